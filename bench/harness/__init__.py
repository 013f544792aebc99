"""The bench harness: what the scripts in bench/ share to run Workers under load.

    origins.py   the bench page (origin_page, PAGES), nginx serving it, a counting Python origin
    workers.py   the subjects (Subject), started under miniflare with their KV and cookie (Launcher,
                 launch), and one timed request to a running one (get)
    load.py      wrk: one run and its summary (run_wrk), and workerd's CPU time per request with
                 every subject under load at once (load_all)
    debian.py    nginx and wrk, installed with apt-get when missing (ensure_debian)

The scripts run as `.venv/bin/python bench/<script>.py`, so bench/ is on sys.path and these
import as `harness.<module>`.
"""
