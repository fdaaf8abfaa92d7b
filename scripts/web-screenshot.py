#!/usr/bin/env python3
"""Saves a PNG of a web view page as headless Chromium draws it (Debian's chromium and chromium-driver).

    scripts/web-screenshot.py URL OUT.png [--wait SECONDS] [--size 1280x860]

Waits until the page shows live data, then SECONDS more, then takes the screenshot. Used for the pictures in docs/
(the namespace page of `make demo` while its runs stream).
"""
import argparse
import base64
import json
import re
import subprocess
import tempfile
import time
import urllib.request


def call(base, method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(base + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())["value"]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("out")
    parser.add_argument("--wait", type=float, default=2.0)
    parser.add_argument("--size", default="1280x860")
    args = parser.parse_args()
    width, height = args.size.split("x")
    driver = subprocess.Popen(["chromedriver", "--port=0"], stdout=subprocess.PIPE, text=True)
    try:
        port = None
        for line in driver.stdout:
            match = re.search(r"on port (\d+)", line)
            if match and "successfully" in line:
                port = match.group(1)
                break
        base = f"http://127.0.0.1:{port}"
        with tempfile.TemporaryDirectory() as profile:
            session = call(base, "POST", "/session", {"capabilities": {"alwaysMatch": {
                "browserName": "chrome",
                "goog:chromeOptions": {"binary": "/usr/bin/chromium", "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    f"--window-size={width},{height}", f"--user-data-dir={profile}", "--hide-scrollbars"]}}}})
            sid = session["sessionId"]
            try:
                call(base, "POST", f"/session/{sid}/url", {"url": args.url})
                deadline = time.time() + 20
                while time.time() < deadline:
                    live = call(base, "POST", f"/session/{sid}/execute/sync",
                                {"script": "return document.body.dataset.live === '1';", "args": []})
                    if live:
                        break
                    time.sleep(0.1)
                time.sleep(args.wait)
                png = call(base, "GET", f"/session/{sid}/screenshot")
                with open(args.out, "wb") as f:
                    f.write(base64.b64decode(png))
            finally:
                call(base, "DELETE", f"/session/{sid}")
    finally:
        driver.terminate()
        driver.wait()


if __name__ == "__main__":
    main()
