"""Persistent CA database (JSON files in the state directory) and the JSON-lines request log."""

from __future__ import annotations

import datetime
import json
import os
import threading
import uuid


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _atomic_json(path: str, doc) -> None:
    tmp = f"{path}.{os.getpid()}.{threading.get_ident()}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(doc, f, indent=1, sort_keys=True)
    os.replace(tmp, path)


class Database:
    """Per-CA request tables with increasing IDs, revoked serials and the policy ID.

    Every change is written through to disk so a restarted sandbox still knows its pending
    requests; one lock serialises all access (requests are few, correctness matters more).
    """

    def __init__(self, state_dir: str, ca_names: list[str]):
        self.dir = os.path.join(state_dir, "db")
        os.makedirs(self.dir, exist_ok=True)
        self.lock = threading.RLock()
        self.tables = {}
        for name in ca_names:
            path = self._path(name)
            if os.path.exists(path):
                with open(path, encoding="utf-8") as f:
                    self.tables[name] = json.load(f)
            else:
                self.tables[name] = {"next_id": 1, "requests": {}}
        meta_path = os.path.join(self.dir, "sandbox.json")
        if os.path.exists(meta_path):
            with open(meta_path, encoding="utf-8") as f:
                self.meta = json.load(f)
        else:
            self.meta = {"policy_id": "{" + str(uuid.uuid4()).upper() + "}", "revoked": {}}
            _atomic_json(meta_path, self.meta)
        self.meta_path = meta_path

    def _path(self, ca_name: str) -> str:
        return os.path.join(self.dir, ca_name + ".json")

    @property
    def policy_id(self) -> str:
        return self.meta["policy_id"]

    def new_request(self, ca_name: str, record: dict) -> int:
        with self.lock:
            table = self.tables[ca_name]
            request_id = table["next_id"]
            table["next_id"] = request_id + 1
            record = dict(record, id=request_id, ca=ca_name, submitted=_now())
            table["requests"][str(request_id)] = record
            _atomic_json(self._path(ca_name), table)
            return request_id

    def update(self, ca_name: str, request_id: int, **changes) -> dict:
        with self.lock:
            table = self.tables[ca_name]
            record = table["requests"][str(request_id)]
            record.update(changes, updated=_now())
            _atomic_json(self._path(ca_name), table)
            return dict(record)

    def get(self, ca_name: str, request_id: int) -> dict | None:
        with self.lock:
            table = self.tables.get(ca_name)
            record = table["requests"].get(str(request_id)) if table else None
            return dict(record) if record else None

    def all(self) -> list[dict]:
        with self.lock:
            return [dict(r) for t in self.tables.values() for r in t["requests"].values()]

    def by_serial(self, serial_hex: str) -> dict | None:
        serial_hex = serial_hex.lower().lstrip("0")
        with self.lock:
            for table in self.tables.values():
                for record in table["requests"].values():
                    if (record.get("serial") or "").lstrip("0") == serial_hex:
                        return dict(record)
        return None

    def revoke(self, serial_hex: str) -> None:
        with self.lock:
            self.meta["revoked"][serial_hex.lower().lstrip("0")] = _now()
            _atomic_json(self.meta_path, self.meta)

    def is_revoked(self, serial: int) -> bool:
        with self.lock:
            return format(serial, "x") in self.meta["revoked"]


class RequestLog:
    """DIR/requests.jsonl: one JSON object per request, appended under a lock."""

    FIELDS = ("time", "endpoint", "path", "action", "request_type", "auth", "identity", "template",
              "ca", "outcome", "request_id", "serial", "hresult")

    def __init__(self, path: str):
        self.path = path
        self.lock = threading.Lock()

    def write(self, **entry) -> None:
        entry.setdefault("time", _now())
        line = {k: entry.get(k) for k in self.FIELDS}
        line.update({k: v for k, v in entry.items() if k not in line})
        with self.lock, open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(line, sort_keys=True) + "\n")
