"""The inventory table (spec/otel-demo.md §1.3 seed rows) and ``FAULT_STOCK_DRAIN`` (§2.4).

Stock only goes down when ``FAULT_STOCK_DRAIN`` is on (``1``/``true``/``on``): reservations then
drain it until checks answer ``available: false``, and a restock every ``FAULT_RESTOCK_S`` (300 s)
puts the seed quantities back. Off, reservations leave the stock as it is, so the demo can run for
days. The last known quantities are kept in memory for the ``inventory.stock`` gauge, whose callback
runs on the metric reader's thread and must not query (and trace) the database.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

SEED_STOCK = {"Laptop": 50, "Mouse": 200, "Keyboard": 150}
SCHEMA = """
CREATE TABLE IF NOT EXISTS inventory (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    product_name TEXT NOT NULL UNIQUE,
    quantity INTEGER NOT NULL,
    updated_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP
)
"""
TRUE_WORDS = {"1", "true", "on", "yes"}


def drain_enabled(env: Mapping[str, str]) -> bool:
    return env.get("FAULT_STOCK_DRAIN", "").strip().lower() in TRUE_WORDS


def restock_interval(env: Mapping[str, str]) -> float:
    raw = env.get("FAULT_RESTOCK_S", "").strip()
    return float(raw) if raw else 300.0


class InventoryStore:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self.stock: dict[str, int] = {}
        connection = self._connect()
        try:
            connection.cursor().execute(SCHEMA)
            for number, (name, quantity) in enumerate(SEED_STOCK.items(), start=1):
                connection.cursor().execute(
                    "INSERT OR IGNORE INTO inventory (id, product_name, quantity) VALUES (?, ?, ?)",
                    (number, name, quantity),
                )
            connection.commit()
            self._remember(connection.cursor().execute("SELECT product_name, quantity FROM inventory").fetchall())
        finally:
            connection.close()

    def _connect(self) -> sqlite3.Connection:
        connection = sqlite3.connect(self.path, timeout=5)
        connection.row_factory = sqlite3.Row
        return connection

    def _remember(self, rows: list[Any]) -> None:
        with self._lock:
            for row in rows:
                self.stock[str(row[0])] = int(row[1])

    def find(self, product_name: str) -> dict[str, Any] | None:
        connection = self._connect()
        try:
            row = (
                connection.cursor()
                .execute("SELECT * FROM inventory WHERE product_name = ?", (product_name,))
                .fetchone()
            )
        finally:
            connection.close()
        if row is None:
            return None
        self._remember([(row["product_name"], row["quantity"])])
        return dict(row)

    def find_by_id_or_name(self, key: str) -> dict[str, Any] | None:
        connection = self._connect()
        try:
            row = (
                connection.cursor()
                .execute(
                    "SELECT * FROM inventory WHERE id = ? OR product_name = ?", (int(key) if key.isdigit() else -1, key)
                )
                .fetchone()
            )
        finally:
            connection.close()
        return dict(row) if row is not None else None

    def all(self) -> list[dict[str, Any]]:
        connection = self._connect()
        try:
            rows = connection.cursor().execute("SELECT * FROM inventory ORDER BY id").fetchall()
        finally:
            connection.close()
        self._remember([(row["product_name"], row["quantity"]) for row in rows])
        return [dict(row) for row in rows]

    def take(self, product_name: str, quantity: int) -> bool:
        """Remove ``quantity`` from the stock; ``False`` (nothing changed) when there is not enough."""
        connection = self._connect()
        try:
            cursor = connection.cursor().execute(
                "UPDATE inventory SET quantity = quantity - ?, updated_at = CURRENT_TIMESTAMP "
                "WHERE product_name = ? AND quantity >= ?",
                (quantity, product_name, quantity),
            )
            connection.commit()
            taken = cursor.rowcount == 1
            row = (
                connection.cursor()
                .execute("SELECT quantity FROM inventory WHERE product_name = ?", (product_name,))
                .fetchone()
            )
        finally:
            connection.close()
        if row is not None:
            self._remember([(product_name, row[0])])
        return taken

    def restock(self) -> None:
        connection = self._connect()
        try:
            for name, quantity in SEED_STOCK.items():
                connection.cursor().execute(
                    "UPDATE inventory SET quantity = ?, updated_at = CURRENT_TIMESTAMP WHERE product_name = ?",
                    (quantity, name),
                )
            connection.commit()
        finally:
            connection.close()
        self._remember(list(SEED_STOCK.items()))

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self.stock)
