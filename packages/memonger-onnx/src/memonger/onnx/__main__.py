"""``python -m memonger.onnx``: the ``memonger`` command (:func:`memonger.onnx.cli.main`)."""

from memonger.onnx.cli import main

raise SystemExit(main())
