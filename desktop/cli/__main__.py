"""`python -m desktop.cli ...`: the command line, as torchrun starts it in each process (``-m desktop.cli``)."""

from desktop.cli import main

raise SystemExit(main())
