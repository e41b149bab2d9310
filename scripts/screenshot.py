#!/usr/bin/env python3
"""Sign in to a running console and save screenshots of pages (for looking at them).

usage: screenshot.py BASE_URL USER PASSWORD OUT_DIR PATH [PATH ...]
"""
import sys
from pathlib import Path

from playwright.sync_api import sync_playwright

ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def main() -> None:
    base, user, password, out, *paths = sys.argv[1:]
    Path(out).mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        page = browser.new_page(viewport={"width": 1440, "height": 900})
        page.goto(f"{base}/accounts/login/")
        page.screenshot(path=f"{out}/login.png")
        page.fill("#id_username", user)
        page.fill("#id_password", password)
        page.click("button[type=submit]")
        for i, path in enumerate(paths):
            page.goto(f"{base}{path}")
            page.wait_for_load_state("networkidle")
            name = path.strip("/").replace("/", "_").replace("?", "_") or "home"
            page.screenshot(path=f"{out}/{i:02d}_{name}.png", full_page=True)
        browser.close()


if __name__ == "__main__":
    main()
