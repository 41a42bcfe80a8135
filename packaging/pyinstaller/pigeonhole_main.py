"""Entry point of the frozen app (packaging/pigeonhole.spec): desktop/__main__.py plus freeze_support().

Training decodes images in DataLoader worker processes. Where those start with "spawn" (Windows, macOS) or
"forkserver", a frozen app's worker is this executable run again with multiprocessing's arguments;
freeze_support() turns that run into the worker instead of a second Pigeonhole (or an argparse error).
"""

import multiprocessing

if __name__ == "__main__":
    multiprocessing.freeze_support()

    from desktop.cli import main

    raise SystemExit(main())
