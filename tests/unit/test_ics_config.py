"""The [ics] section of the configuration: defaults (https only, no private network), the
networks a test or an intranet may allow, and a clear line for each mistake."""

from __future__ import annotations

import ipaddress
from pathlib import Path

from server.config import ConfigError, load


def loaded(tmp_path: Path, text: str) -> object:
    path = tmp_path / "bookingcal.toml"
    path.write_text('data_dir = "data"\n' + text, encoding="utf-8")
    return load(path, environ={})


def problems(tmp_path: Path, text: str) -> list[str]:
    try:
        loaded(tmp_path, text)
    except ConfigError as exc:
        return exc.problems
    raise AssertionError("no ConfigError")


def test_defaults_are_strict(tmp_path: Path) -> None:
    ics = loaded(tmp_path, "").ics  # type: ignore[attr-defined]
    assert ics.allowed_networks == () and ics.allow_http is False
    assert (ics.min_interval_seconds, ics.default_interval_seconds,
            ics.max_interval_seconds) == (900, 3600, 86400)
    assert ics.max_bytes == 10 * 1024 * 1024


def test_networks_and_http_for_tests_and_intranets(tmp_path: Path) -> None:
    ics = loaded(tmp_path, '[ics]\nallowed_networks = ["127.0.0.1", "10.1.0.0/16"]\n'
                 'allow_http = true\n').ics  # type: ignore[attr-defined]
    assert ics.allowed_networks == (ipaddress.ip_network("127.0.0.1/32"),
                                    ipaddress.ip_network("10.1.0.0/16"))
    assert ics.allow_http


def test_mistakes_are_named(tmp_path: Path) -> None:
    found = problems(tmp_path, '[ics]\nallowed_networks = ["10.0.0.0/33"]\nallow_http = "yes"\n'
                     'min_interval_seconds = 7200\nmax_megabytes = 0\n')
    text = "\n".join(found)
    assert "ics.allowed_networks: found" in text and "10.0.0.0/8" in text
    assert "ics.allow_http: found 'yes' (a string), expected true or false" in text
    assert "ics.max_megabytes: found 0" in text
    assert any("min_interval_seconds <= default_interval_seconds <= max_interval_seconds"
               in line and "7200, 3600, 86400" in line for line in found)
    assert problems(tmp_path, "[ics]\nallowed_network = []\n") == [
        f"{tmp_path / 'bookingcal.toml'}: ics.allowed_network: unknown key"]
