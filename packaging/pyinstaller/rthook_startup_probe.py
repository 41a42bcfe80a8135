# PyInstaller runtime hook (packaging only): measures the frozen app's start-up when asked, and does nothing
# otherwise. scripts/smoke-deb launches the installed app with
#     PIGEONHOLE_PACKAGING_STARTUP_PROBE=<launch time, seconds since the epoch> pigeonhole PROJECT
# and reads one line on stderr:
#     PIGEONHOLE_STARTUP {"window_shown_s": ..., "first_paint_s": ..., "project_opened_s": ..., ...}
# after which the app quits by itself. The times count from the launch time given, so they include the shell
# launcher, the bootloader, unpacking nothing (one-folder bundle), Python's start and the imports.
#
# Runtime hooks run before the PySide6 hook has set up Qt's paths, so nothing is imported here: the probe is
# installed when desktop.cli.gui_main runs, which is after every hook and before the QApplication exists.


def _install_startup_probe(launched: float) -> None:
    import json
    import sys
    import time

    import desktop.cli as cli

    marks: dict[str, float] = {"hooks_done_s": time.time() - launched}
    open_gui = cli.gui_main

    def report_and_quit(app) -> None:
        marks["modules"] = len(sys.modules)
        marks["torch_imported"] = "torch" in sys.modules
        print("PIGEONHOLE_STARTUP " + json.dumps({k: round(v, 3) if isinstance(v, float) else v
                                                   for k, v in marks.items()}), file=sys.stderr, flush=True)
        app.quit()

    def gui_main(argv=None):
        from PySide6.QtCore import QEvent, QObject, QTimer

        import desktop.ui.app as app_module
        import desktop.ui.main_window as window_module

        marks["qt_imported_s"] = time.time() - launched
        make_application = app_module.make_application
        window_class = window_module.MainWindow
        open_project_at = window_class.open_project_at

        def opened(self, path):
            result = open_project_at(self, path)
            marks.setdefault("project_opened_s", time.time() - launched)
            marks["project_opened"] = bool(result)
            # Let queued work (first thumbnails, counts) run for a moment, then report.
            QTimer.singleShot(1500, lambda: report_and_quit(app_module.QApplication.instance()))
            return result

        window_class.open_project_at = opened

        class Watch(QObject):
            def eventFilter(self, obj, event):  # Qt's name for the override
                if isinstance(obj, window_class):
                    if event.type() == QEvent.Type.Show:
                        marks.setdefault("window_shown_s", time.time() - launched)
                    elif event.type() in (QEvent.Type.Paint, QEvent.Type.UpdateRequest):
                        marks.setdefault("first_paint_s", time.time() - launched)
                return False

        watch = Watch()

        def make(*args, **kwargs):
            app = make_application(*args, **kwargs)
            marks["qapplication_s"] = time.time() - launched
            app.installEventFilter(watch)
            QTimer.singleShot(60_000, lambda: report_and_quit(app))  # never hang a measurement
            return app

        app_module.make_application = make
        return open_gui(argv)

    cli.gui_main = gui_main


def _main() -> None:
    import os

    value = os.environ.pop("PIGEONHOLE_PACKAGING_STARTUP_PROBE", None)
    if value:
        _install_startup_probe(float(value))


_main()
