"""``python -m hw3_student check|report|pack``."""

from .cli import main

raise SystemExit(main())
