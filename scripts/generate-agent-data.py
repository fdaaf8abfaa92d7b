#!/usr/bin/env python3
"""Generate the synthetic data sets shipped with FlowAgents.

Deterministic: the same script always writes byte-identical files (fixed seeds, no clock).

    python3 scripts/generate-agent-data.py

writes Sources/FlowAgents/Resources/sales.csv and Sources/FlowAgents/Resources/prices.csv.
"""

import datetime
import math
import os
import random

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "Sources", "FlowAgents", "Resources")

PRODUCTS = [
    # name, category, list price, relative popularity
    ("Laptop", "Electronics", 1299.00, 6),
    ("Smartphone", "Electronics", 899.00, 9),
    ("Monitor", "Electronics", 399.00, 7),
    ("Earbuds", "Electronics", 129.00, 12),
    ("Office Chair", "Furniture", 349.00, 6),
    ("Standing Desk", "Furniture", 599.00, 4),
    ("Desk Lamp", "Furniture", 49.00, 8),
    ("Coffee Maker", "Home", 89.00, 9),
    ("Air Purifier", "Home", 219.00, 5),
    ("Blender", "Home", 79.00, 7),
    ("Yoga Mat", "Sports", 35.00, 10),
    ("Running Shoes", "Sports", 119.00, 9),
]

REGIONS = [("North", 1.0), ("South", 0.8), ("East", 1.2), ("West", 1.1), ("Central", 0.6)]

# Order volume per calendar month (1..12): a holiday peak and a summer dip.
SEASON = {1: 0.85, 2: 0.8, 3: 0.95, 4: 1.0, 5: 1.0, 6: 0.95, 7: 0.9, 8: 0.9, 9: 1.0, 10: 1.05, 11: 1.35, 12: 1.5}

PREFIXES = ["Acme", "Blue", "Cedar", "Delta", "Evergreen", "Falcon", "Granite", "Harbor", "Iris", "Juniper",
            "Keystone", "Lakeside", "Maple", "Northwind", "Orion", "Pioneer", "Quarry", "Riverside", "Summit",
            "Tidewater"]
SUFFIXES = ["Corp", "Labs", "Partners", "Retail", "Systems", "Trading", "Group"]


def sales():
    rng = random.Random(20240101)
    customers = sorted({f"{rng.choice(PREFIXES)} {rng.choice(SUFFIXES)}" for _ in range(400)})[:120]
    start = datetime.date(2024, 1, 1)
    end = datetime.date(2025, 6, 30)
    names = [p[0] for p in PRODUCTS]
    weights = [p[3] for p in PRODUCTS]
    rows = []
    day = start
    order_id = 100000
    while day <= end:
        growth = 1.0 + 0.15 * ((day - start).days / 365.0)
        expected = 7.0 * SEASON[day.month] * growth * (0.8 if day.weekday() >= 5 else 1.0)
        count = max(0, int(round(rng.gauss(expected, 1.5))))
        for _ in range(count):
            order_id += 1
            region = rng.choices([r[0] for r in REGIONS], weights=[r[1] for r in REGIONS])[0]
            idx = rng.choices(range(len(PRODUCTS)), weights=weights)[0]
            name, category, price, _ = PRODUCTS[idx]
            discount = rng.choice([0.0, 0.0, 0.0, 0.05, 0.10, 0.15])
            unit_cents = int(round(price * (1.0 - discount) * 100))
            quantity = rng.randint(1, 3) if price > 300 else rng.randint(1, 8)
            customer = rng.choice(customers)
            rows.append((order_id, day.isoformat(), region, name, category, quantity,
                         f"{unit_cents // 100}.{unit_cents % 100:02d}", customer))
        day += datetime.timedelta(days=1)
    with open(os.path.join(OUT, "sales.csv"), "w", newline="\n") as f:
        f.write("order_id,order_date,region,product,category,quantity,unit_price,customer\n")
        for r in rows:
            f.write(",".join(str(x) for x in r) + "\n")
    assert names
    return len(rows)


SYMBOLS = [
    # symbol, start price, yearly drift, daily volatility, typical volume
    ("AAPL", 185.0, 0.12, 0.015, 55_000_000),
    ("MSFT", 370.0, 0.15, 0.014, 22_000_000),
    ("GOOGL", 140.0, 0.10, 0.017, 25_000_000),
    ("AMZN", 150.0, 0.14, 0.019, 40_000_000),
    ("NVDA", 48.0, 0.60, 0.030, 300_000_000),
    ("TSLA", 250.0, -0.05, 0.035, 100_000_000),
    ("META", 350.0, 0.25, 0.022, 15_000_000),
    ("NFLX", 480.0, 0.20, 0.020, 4_000_000),
]


def prices():
    rng = random.Random(19700101)
    start = datetime.date(2024, 1, 2)
    end = datetime.date(2025, 12, 31)
    days = []
    d = start
    while d <= end:
        if d.weekday() < 5:
            days.append(d)
        d += datetime.timedelta(days=1)
    lines = []
    for symbol, price, drift, vol, volume in SYMBOLS:
        close = price
        for d in days:
            ret = drift / 252.0 + vol * rng.gauss(0.0, 1.0)
            open_ = close * (1.0 + 0.3 * vol * rng.gauss(0.0, 1.0))
            close = max(1.0, close * math.exp(ret))
            high = max(open_, close) * (1.0 + abs(rng.gauss(0.0, 0.5 * vol)))
            low = min(open_, close) * (1.0 - abs(rng.gauss(0.0, 0.5 * vol)))
            vol_today = int(volume * math.exp(rng.gauss(0.0, 0.3)))
            lines.append((d.isoformat(), symbol, f"{open_:.2f}", f"{high:.2f}", f"{low:.2f}", f"{close:.2f}",
                          str(vol_today)))
            close = float(f"{close:.2f}")
    lines.sort(key=lambda r: (r[1], r[0]))
    with open(os.path.join(OUT, "prices.csv"), "w", newline="\n") as f:
        f.write("date,symbol,open,high,low,close,volume\n")
        for r in lines:
            f.write(",".join(r) + "\n")
    return len(lines)


if __name__ == "__main__":
    print("sales rows:", sales())
    print("price rows:", prices())
