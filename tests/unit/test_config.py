"""server/config/ (the configuration schema and loader), config/bookingcal.toml (the shipped,
documented file) and server/keys.py (key files)."""

from __future__ import annotations

import ipaddress
import re
import stat
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:  # the package is not installed in the venv; import it from the tree
    sys.path.insert(0, str(REPO))

from server import config as cfg  # noqa: E402
from server import keys  # noqa: E402
from server.config import OPTIONS, Config, ConfigError, load  # noqa: E402

SHIPPED = REPO / "config" / "bookingcal.toml"

URL_EXPECTED = ('an absolute http:// or https:// URL with a host, such as '
                '"https://cal.example.com/"')
DB_EXPECTED = ("empty (SQLite under data_dir), a sqlite:///PATH URL "
               "or a postgresql+psycopg://USER@HOST/DB URL")
NETWORKS_EXPECTED = 'a list of IP addresses or networks, such as ["127.0.0.1", "10.0.0.0/8"]'
HOST_KEY_EXPECTED = "expected a readable file holding the host API key"


# --- helpers ---------------------------------------------------------------------------------


def write_config(tmp_path: Path, text: str) -> Path:
    """Write tmp_path/config/bookingcal.toml (so the default data_dir is tmp_path/data)."""
    path = tmp_path / "config" / "bookingcal.toml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def load_text(tmp_path: Path, text: str, environ: dict[str, str] | None = None) -> Config:
    return load(write_config(tmp_path, text), environ=environ or {})


def problems_of(path: Path, environ: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load(path, environ=environ or {})
    assert str(info.value) == "\n".join(info.value.problems)
    return info.value.problems


def text_problems(tmp_path: Path, text: str,
                  environ: dict[str, str] | None = None) -> tuple[Path, list[str]]:
    path = write_config(tmp_path, text)
    return path, problems_of(path, environ)


def flatten(table: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in table.items():
        if isinstance(value, dict):
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


# --- the shipped file ------------------------------------------------------------------------


def test_shipped_file_loads_without_error():
    config = load(SHIPPED, environ={})
    assert config.source == SHIPPED
    assert config.data_dir == REPO / "data"
    assert config.database_url == f"sqlite:///{REPO / 'data' / 'bookingcal.sqlite3'}"


def test_shipped_file_holds_every_option_at_its_default():
    with open(SHIPPED, "rb") as handle:
        shipped = flatten(tomllib.load(handle))
    assert shipped == {option.key: option.default for option in OPTIONS}


def test_shipped_file_comments_every_option_and_uses_matching_tables():
    lines = SHIPPED.read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith("#"), "the file starts with a header comment"
    section, seen = "", []
    for number, line in enumerate(lines):
        if header := re.fullmatch(r"\[([\w.]+)\]", line):
            section = header.group(1) + "."
        elif assignment := re.match(r"(\w+)\s*=", line):
            seen.append(section + assignment.group(1))
            assert lines[number - 1].startswith("#"), f"line {number + 1}: {line!r} lacks a comment"
    assert sorted(seen) == sorted(option.key for option in OPTIONS)


def test_shipped_header_names_check_command_selection_and_secrets():
    header = SHIPPED.read_text(encoding="utf-8").split("\npublic_url")[0]
    for needle in ("bookingcal config check", "--config", "BOOKINGCAL_CONFIG", "relative",
                   "BOOKINGCAL_HOST_KEY", "BOOKINGCAL_DATABASE_URL"):
        assert needle in header


def test_render_default_file_is_valid_toml_with_every_default():
    assert flatten(tomllib.loads(cfg.render_default_file())) == {
        option.key: option.default for option in OPTIONS}


# --- one test per class of mistake -----------------------------------------------------------


@pytest.mark.parametrize("text, line", [
    ("[server]\nprot = 1\n", "server.prot: unknown key"),
    ("colour = 'blue'\n", "colour: unknown key"),
    ("[sever]\nhost = 'x'\n", "sever: unknown key"),
    ("[server.tls]\ncert = 'x'\n", "server.tls: unknown key"),
    ("port = 5232\n", "port: unknown key; did you mean 'server.port'?"),
    ("[database]\nport = 5432\n", "database.port: unknown key; did you mean 'server.port'?"),
    ("[metrics]\nlevel = 'INFO'\n", "metrics.level: unknown key; did you mean 'logging.level'?"),
])
def test_unknown_key(tmp_path, text, line):
    path, problems = text_problems(tmp_path, text)
    assert problems == [f"{path}: {line}"]


@pytest.mark.parametrize("text, line", [
    ('[server]\nport = "abc"\n',
     "server.port: found 'abc' (a string), expected an integer from 1 to 65535"),
    ("[server]\nport = 80.0\n",
     "server.port: found 80.0 (a number), expected an integer from 1 to 65535"),
    ("[server]\nthreads = true\n",
     "server.threads: found True (a boolean), expected an integer from 1 to 256"),
    ("data_dir = 5\n", "data_dir: found 5 (an integer), expected a string"),
    ("[server]\nhost = ['a']\n", "server.host: found ['a'] (a list), expected a string"),
    ('[metrics]\nenabled = "yes"\n',
     "metrics.enabled: found 'yes' (a string), expected true or false"),
    ('[database]\nbusy_timeout_seconds = "10s"\n',
     "database.busy_timeout_seconds: found '10s' (a string), expected a positive number"),
    ("[keys]\ndir = {a = 1}\n", "keys.dir: found {'a': 1} (a table), expected a string"),
])
def test_wrong_type(tmp_path, text, line):
    path, problems = text_problems(tmp_path, text)
    assert problems == [f"{path}: {line}"]


@pytest.mark.parametrize("key, value, expected", [
    ("server.port", "0", "an integer from 1 to 65535"),
    ("server.port", "65536", "an integer from 1 to 65535"),
    ("server.threads", "257", "an integer from 1 to 256"),
    ("server.max_body_bytes", "1023", "an integer from 1024 to 1073741824"),
    ("database.pool_size", "0", "an integer from 1 to 200"),
    ("journal.retention_days", "3651", "an integer from 1 to 3650"),
    ("database.busy_timeout_seconds", "0", "a positive number"),
    ("database.lock_timeout_seconds", "-1.5", "a positive number"),
    ("database.busy_timeout_seconds", "nan", "a positive number"),
    ("database.lock_timeout_seconds", "inf", "a positive number"),
])
def test_number_out_of_range(tmp_path, key, value, expected):
    section, leaf = key.split(".")
    path, problems = text_problems(tmp_path, f"[{section}]\n{leaf} = {value}\n")
    kind = "an integer" if re.fullmatch(r"-?\d+", value) else "a number"
    assert problems == [f"{path}: {key}: found {value} ({kind}), expected {expected}"]


def test_numbers_in_range_are_accepted(tmp_path):
    config = load_text(tmp_path, "[server]\nport = 65535\nthreads = 1\n[database]\n"
                                 "busy_timeout_seconds = 0.5\nlock_timeout_seconds = 3\n")
    assert (config.server_port, config.server_threads) == (65535, 1)
    assert (config.database_busy_timeout, config.database_lock_timeout) == (0.5, 3.0)
    assert isinstance(config.database_lock_timeout, float)


@pytest.mark.parametrize("url", [
    "cal.example.com",                      # no scheme
    "//cal.example.com/",                   # no scheme either
    "ftp://cal.example.com/",
    "https://cal.example.com/?lang=en",     # query string
    "https://cal.example.com/?",            # empty query string
    "https://cal.example.com/#top",         # fragment
    "https:///cal/",                        # no host
    "https://cal.example.com:99999/",       # port out of range
    "https://cal.example.com:abc/",
])
def test_bad_public_url(tmp_path, url):
    path, problems = text_problems(tmp_path, f'public_url = "{url}"\n')
    assert problems == [f"{path}: public_url: found {url!r} (a string), expected {URL_EXPECTED}"]


def test_public_url_not_a_string(tmp_path):
    path, problems = text_problems(tmp_path, "public_url = 8080\n")
    assert problems == [f"{path}: public_url: found 8080 (an integer), expected {URL_EXPECTED}"]


@pytest.mark.parametrize("url", [
    "postgres://cal@db.example/cal",        # SQLAlchemy needs the +psycopg driver
    "postgresql://cal@db.example/cal",
    "mysql://cal@db.example/cal",
    "sqlite://relative.db",
    "bookingcal.sqlite3",
])
def test_bad_database_url(tmp_path, url):
    path, problems = text_problems(tmp_path, f'[database]\nurl = "{url}"\n')
    assert problems == [f"{path}: database.url: found {url!r} (a string), expected {DB_EXPECTED}"]


@pytest.mark.parametrize("url", ["sqlite:////var/lib/bookingcal/db.sqlite3",
                                 "postgresql+psycopg://cal@db.example:5432/cal"])
def test_good_database_url(tmp_path, url):
    config = load_text(tmp_path, f'[database]\nurl = "{url}"\n')
    assert config.database_url == url
    assert config.is_sqlite == url.startswith("sqlite")


@pytest.mark.parametrize("key", ["server.trusted_proxies", "metrics.allow"])
@pytest.mark.parametrize("value, shown", [
    ('["10.0.0.0/33"]', "['10.0.0.0/33'] (a list)"),
    ('["proxy.example.com"]', "['proxy.example.com'] (a list)"),
    ('["127.0.0.1", 8]', "['127.0.0.1', 8] (a list)"),
    ('"10.0.0.1"', "'10.0.0.1' (a string)"),
])
def test_bad_network(tmp_path, key, value, shown):
    section, leaf = key.split(".")
    path, problems = text_problems(tmp_path, f"[{section}]\n{leaf} = {value}\n")
    assert problems == [f"{path}: {key}: found {shown}, expected {NETWORKS_EXPECTED}"]


def test_networks_are_parsed(tmp_path):
    config = load_text(tmp_path, '[server]\ntrusted_proxies = ["127.0.0.1", "10.1.2.3/8", "::1"]\n')
    assert config.trusted_proxies == (ipaddress.ip_network("127.0.0.1/32"),
                                      ipaddress.ip_network("10.0.0.0/8"),
                                      ipaddress.ip_network("::1/128"))


@pytest.mark.parametrize("value, shown", [('"verbose"', "'verbose' (a string)"),
                                          ("10", "10 (an integer)")])
def test_bad_log_level(tmp_path, value, shown):
    path, problems = text_problems(tmp_path, f"[logging]\nlevel = {value}\n")
    assert problems == [f"{path}: logging.level: found {shown}, "
                        "expected one of DEBUG, INFO, WARNING, ERROR"]


def test_log_level_is_case_insensitive(tmp_path):
    assert load_text(tmp_path, '[logging]\nlevel = "warning"\n').log_level == "WARNING"


@pytest.mark.parametrize("make", [
    pytest.param(lambda path: None, id="missing"),
    pytest.param(lambda path: path.mkdir(), id="a-folder"),   # unreadable as a file, even as root
])
def test_host_key_file_not_readable(tmp_path, make):
    key_file = tmp_path / "secrets" / "host.key"
    key_file.parent.mkdir()
    make(key_file)
    path, problems = text_problems(tmp_path, '[api]\nhost_key_file = "../secrets/host.key"\n')
    assert problems == [f"{path}: api.host_key_file: found {str(key_file.resolve())!r}, "
                        f"{HOST_KEY_EXPECTED}"]


def test_host_key_file_readable_is_used(tmp_path):
    key_file = tmp_path / "config" / "host.key"
    key_file.parent.mkdir()
    key_file.write_text("secret\n")
    config = load_text(tmp_path, '[api]\nhost_key_file = "host.key"\n')
    assert config.host_key_file == key_file.resolve()
    assert config.host_key_file_explicit
    assert config.host_key is None


@pytest.mark.parametrize("text", ["[server\nport = 1\n", "[server]\nport = \n",
                                  'public_url = "http://x/\n', "[server]\nport = 1\nport = 2\n"])
def test_toml_syntax_error(tmp_path, text):
    with pytest.raises(tomllib.TOMLDecodeError) as syntax:
        tomllib.loads(text)
    path, problems = text_problems(tmp_path, text)
    assert problems == [f"{path}: not valid TOML: {syntax.value}"]


def test_missing_config_file(tmp_path):
    path = tmp_path / "nowhere.toml"
    assert problems_of(path) == [f"{path}: the file does not exist; create it (see "
                                 "config/bookingcal.toml) or point --config at it"]


def test_config_file_is_a_folder(tmp_path):
    assert problems_of(tmp_path) == [f"{tmp_path}: is a folder, not a file"]


def test_missing_file_named_by_environment(tmp_path):
    path = tmp_path / "nowhere.toml"
    problems = problems_of(None, environ={"BOOKINGCAL_CONFIG": str(path)})
    assert problems[0].startswith(f"{path}: the file does not exist")


# --- several mistakes at once ----------------------------------------------------------------


def test_all_mistakes_are_reported_at_once(tmp_path):
    path, problems = text_problems(
        tmp_path,
        'public_url = "ftp://x/"\n'
        "port = 1\n"
        '[server]\nport = "abc"\n'
        '[logging]\nlevel = "loud"\n'
        '[api]\nhost_key_file = "missing.key"\n',
        environ={"BOOKINGCAL_DATABASE_URL": "mysql://root:pw@db/cal"})
    assert problems == [
        f"{path}: port: unknown key; did you mean 'server.port'?",
        f"{path}: public_url: found 'ftp://x/' (a string), expected {URL_EXPECTED}",
        f"{path}: server.port: found 'abc' (a string), expected an integer from 1 to 65535",
        f"{path}: logging.level: found 'loud' (a string), "
        "expected one of DEBUG, INFO, WARNING, ERROR",
        f"{path}: api.host_key_file: found {str((path.parent / 'missing.key').resolve())!r}, "
        f"{HOST_KEY_EXPECTED}",
        f"environment: BOOKINGCAL_DATABASE_URL: expected {DB_EXPECTED}",
    ]


# --- environment -----------------------------------------------------------------------------


def test_environment_database_url_overrides_the_file(tmp_path):
    url = "postgresql+psycopg://cal:secret@db.example/cal"
    config = load_text(tmp_path, '[database]\nurl = "sqlite:////tmp/x.sqlite3"\n',
                       environ={"BOOKINGCAL_DATABASE_URL": url})
    assert config.database_url == url
    assert not config.is_sqlite


def test_empty_environment_database_url_is_ignored(tmp_path):
    config = load_text(tmp_path, '[database]\nurl = "sqlite:////tmp/x.sqlite3"\n',
                       environ={"BOOKINGCAL_DATABASE_URL": ""})
    assert config.database_url == "sqlite:////tmp/x.sqlite3"


def test_bad_environment_database_url_is_reported_without_its_value(tmp_path):
    path, problems = text_problems(tmp_path, "",
                                   environ={"BOOKINGCAL_DATABASE_URL": "postgres://u:hunter2@db/c"})
    assert problems == [f"environment: BOOKINGCAL_DATABASE_URL: expected {DB_EXPECTED}"]


def test_environment_host_key_overrides_the_file(tmp_path):
    config = load_text(tmp_path, '[api]\nhost_key_file = "missing.key"\n',
                       environ={"BOOKINGCAL_HOST_KEY": "from-env"})
    assert config.host_key == "from-env"


def test_environment_selects_the_config_file(tmp_path):
    path = write_config(tmp_path, "[server]\nport = 8000\n")
    config = load(None, environ={"BOOKINGCAL_CONFIG": str(path)})
    assert (config.source, config.server_port) == (path, 8000)


def test_explicit_path_wins_over_environment(tmp_path):
    path = write_config(tmp_path, "[server]\nport = 8000\n")
    config = load(path, environ={"BOOKINGCAL_CONFIG": str(tmp_path / "other.toml")})
    assert config.source == path


def test_default_location_and_no_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert load(None, environ={}).source is None
    write_config(tmp_path, "[server]\nport = 8000\n")
    config = load(None, environ={})
    assert (config.source, config.server_port) == (Path("config/bookingcal.toml"), 8000)


# --- defaults and derived values -------------------------------------------------------------


def test_empty_file_gives_the_defaults(tmp_path):
    config = load_text(tmp_path, "")
    data_dir = tmp_path.resolve() / "data"
    assert config.data_dir == data_dir
    assert config.database_url == f"sqlite:///{data_dir / 'bookingcal.sqlite3'}"
    assert config.is_sqlite
    assert config.keys_dir == data_dir / "keys"
    assert config.host_key_file == data_dir / "keys" / "host.key"
    assert not config.host_key_file_explicit and config.host_key is None
    assert config.public_url == "http://127.0.0.1:5232/" and config.public_path == ""
    assert (config.server_host, config.server_port, config.server_threads) == ("127.0.0.1", 5232, 8)
    assert config.max_body_bytes == 1_048_576 and config.trusted_proxies == ()
    assert (config.database_busy_timeout, config.database_lock_timeout) == (10.0, 10.0)
    assert config.database_pool_size == 10 and config.journal_retention_days == 90
    assert config.metrics_enabled and config.metrics_allow == (
        ipaddress.ip_network("127.0.0.1/32"), ipaddress.ip_network("::1/128"))
    assert config.log_level == "INFO" and config.demo_on_first_run


def test_paths_are_relative_to_the_config_folder(tmp_path, monkeypatch):
    monkeypatch.chdir("/")
    config = load_text(tmp_path, 'data_dir = "state"\n[keys]\ndir = "../secret-keys"\n')
    assert config.data_dir == tmp_path.resolve() / "config" / "state"
    assert config.keys_dir == tmp_path.resolve() / "secret-keys"
    assert config.host_key_file == tmp_path.resolve() / "secret-keys" / "host.key"


def test_absolute_data_dir_is_kept(tmp_path):
    target = tmp_path / "elsewhere"
    assert load_text(tmp_path, f'data_dir = "{target}"\n').data_dir == target.resolve()


@pytest.mark.parametrize("url, public_url, public_path", [
    ("https://x.example", "https://x.example/", ""),
    ("https://x.example/cal", "https://x.example/cal/", "/cal"),
    ("https://x.example/cal/", "https://x.example/cal/", "/cal"),
    ("http://x.example:8080/a/b", "http://x.example:8080/a/b/", "/a/b"),
])
def test_public_url_normalised(tmp_path, url, public_url, public_path):
    config = load_text(tmp_path, f'public_url = "{url}"\n')
    assert (config.public_url, config.public_path) == (public_url, public_path)
    assert config.public_link("/ics/abc") == public_url + "ics/abc"


# --- keys.py ---------------------------------------------------------------------------------


@pytest.fixture
def keys_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "keys"
    keys.ensure_key_files(directory, directory / "host.key")
    return directory


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_ensure_key_files_creates_private_files_once(tmp_path):
    directory = tmp_path / "data" / "keys"
    expected = [directory / name for name in (keys.ENCRYPTION_FILE, keys.HASH_FILE, "host.key")]
    assert keys.ensure_key_files(directory, directory / "host.key") == expected
    contents = {path: path.read_text() for path in expected}
    assert all(mode(path) == 0o600 for path in expected)
    assert all(content.strip() for content in contents.values())

    assert keys.ensure_key_files(directory, directory / "host.key") == []
    assert {path: path.read_text() for path in expected} == contents


def test_ensure_key_files_fills_in_only_what_is_missing(keys_dir):
    kept = (keys_dir / keys.HASH_FILE).read_text()
    (keys_dir / keys.ENCRYPTION_FILE).unlink()
    assert keys.ensure_key_files(keys_dir, None) == [keys_dir / keys.ENCRYPTION_FILE]
    assert (keys_dir / keys.HASH_FILE).read_text() == kept


def test_write_secret_file_is_exclusive(tmp_path):
    path = tmp_path / "secret"
    assert keys.write_secret_file(path, "one")
    assert not keys.write_secret_file(path, "two")
    assert path.read_text() == "one" and mode(path) == 0o600


def test_encrypt_decrypt_round_trip(keys_dir):
    ring = keys.Keyring.load(keys_dir)
    ciphertext = ring.encrypt("refresh-token ü")
    assert ciphertext.startswith("v1:") and "refresh-token" not in ciphertext
    assert ring.encrypt("refresh-token ü") != ciphertext     # a fresh IV each time
    assert keys.Keyring.load(keys_dir).decrypt(ciphertext) == "refresh-token ü"


def test_rotation_keeps_old_ciphertexts_decryptable(keys_dir):
    old_ring = keys.Keyring.load(keys_dir)
    old = old_ring.encrypt("old secret")
    assert keys.add_encryption_key(keys_dir) == 2
    ring = keys.Keyring.load(keys_dir)
    assert ring.current_version == 2
    new = ring.encrypt("new secret")
    assert new.startswith("v2:")
    assert (ring.decrypt(old), ring.decrypt(new)) == ("old secret", "new secret")
    assert ring.hash_key == old_ring.hash_key
    with pytest.raises(keys.KeyFileError):
        old_ring.decrypt(new)
    assert keys.add_encryption_key(keys_dir) == 3


def test_rotation_after_a_file_lost_its_final_newline(keys_dir):
    path = keys_dir / keys.ENCRYPTION_FILE
    path.write_text(path.read_text().rstrip("\n"))
    assert keys.add_encryption_key(keys_dir) == 2
    assert sorted(keys.Keyring.load(keys_dir).versions) == [1, 2]


@pytest.mark.parametrize("ciphertext", ["garbage", "v1:garbage", "v9:abc", "vx:abc"])
def test_undecryptable_secret(keys_dir, ciphertext):
    with pytest.raises(keys.KeyFileError, match="cannot be decrypted"):
        keys.Keyring.load(keys_dir).decrypt(ciphertext)


def test_hash_token_is_stable_and_matches(keys_dir, tmp_path):
    ring = keys.Keyring.load(keys_dir)
    digest = ring.hash_token("api-key-1")
    assert re.fullmatch(r"[0-9a-f]{64}", digest)
    assert keys.Keyring.load(keys_dir).hash_token("api-key-1") == digest
    assert ring.hash_token("api-key-2") != digest
    assert ring.token_matches("api-key-1", digest)
    assert not ring.token_matches("api-key-2", digest)
    other = tmp_path / "other-keys"
    keys.ensure_key_files(other, None)
    assert keys.Keyring.load(other).hash_token("api-key-1") != digest


def test_new_token_is_url_safe_and_random():
    token = keys.new_token()
    assert re.fullmatch(r"[A-Za-z0-9_-]{32}", token) and keys.new_token() != token


MISSING = ("is missing; restore it from the backup of the key files "
           "(a new one would not decrypt or match existing data)")
UNREADABLE = "make it readable by the user running bookingcal"


@pytest.mark.parametrize("name, what", [(keys.ENCRYPTION_FILE, "the encryption key file"),
                                        (keys.HASH_FILE, "the token hashing key")])
def test_missing_key_file(keys_dir, name, what):
    path = keys_dir / name
    path.unlink()
    with pytest.raises(keys.KeyFileError) as info:
        keys.Keyring.load(keys_dir)
    assert str(info.value) == f"{path}: {what} {MISSING}"


@pytest.mark.parametrize("name, what", [(keys.ENCRYPTION_FILE, "the encryption key file"),
                                        (keys.HASH_FILE, "the token hashing key")])
@pytest.mark.parametrize("spoil, error", [
    pytest.param(lambda path: (path.unlink(), path.mkdir()), "IsADirectoryError",
                 id="a-folder"),   # unlike chmod 000, this fails as root too
])
def test_unreadable_key_file(keys_dir, name, what, spoil, error):
    path = keys_dir / name
    spoil(path)
    with pytest.raises(keys.KeyFileError) as info:
        keys.Keyring.load(keys_dir)
    assert str(info.value) == f"{path}: {what} is not readable ({error}); {UNREADABLE}"


@pytest.mark.parametrize("name, what", [(keys.ENCRYPTION_FILE, "the encryption key file"),
                                        (keys.HASH_FILE, "the token hashing key")])
def test_a_key_file_that_is_not_ascii(keys_dir, name, what):
    path = keys_dir / name
    path.write_bytes(b"\xff\xfe key")
    with pytest.raises(keys.KeyFileError) as info:
        keys.Keyring.load(keys_dir)
    assert str(info.value) == (f"{path}: {what} is not ASCII text (saved as UTF-16 or by an "
                               "editor that changed it?); restore it from the backup of the key "
                               "files")


@pytest.mark.parametrize("name, what", [(keys.ENCRYPTION_FILE, "the encryption key file"),
                                        (keys.HASH_FILE, "the token hashing key")])
@pytest.mark.parametrize("content", ["", " \n\n"])
def test_empty_key_file(keys_dir, name, what, content):
    path = keys_dir / name
    path.write_text(content)
    with pytest.raises(keys.KeyFileError) as info:
        keys.Keyring.load(keys_dir)
    assert str(info.value) == f"{path}: {what} is empty"


@pytest.mark.parametrize("content, number", [
    ("1\n", 1),
    ("x {key}\n", 1),
    ("1 {key}\n2 not-a-fernet-key\n", 2),
    ("1 {key} extra\n", 1),
])
def test_malformed_encryption_key_file(keys_dir, content, number):
    path = keys_dir / keys.ENCRYPTION_FILE
    path.write_text(content.format(key=keys.Fernet.generate_key().decode()))
    with pytest.raises(keys.KeyFileError) as info:
        keys.Keyring.load(keys_dir)
    assert str(info.value) == f'{path}:{number}: expected "<version> <Fernet key>"'


@pytest.mark.parametrize("text, needle", [
    ('[microsoft]\nclient_id = "abc"\n', "microsoft.client_id: set, but no client secret"),
    ('[microsoft]\nclient_secret_file = "nowhere"\n', "microsoft.client_secret_file: found"),
    ('[microsoft]\nca_file = "nowhere.pem"\n', "microsoft.ca_file: found"),
    ("[microsoft]\nmax_concurrent_requests = 5\n", "microsoft.max_concurrent_requests: found 5"),
    ('[microsoft]\nauthority = "login.microsoftonline.com/common"\n', "microsoft.authority"),
])
def test_microsoft_mistakes_are_named(tmp_path, text, needle):
    _, problems = text_problems(tmp_path, text)
    assert len(problems) == 1 and needle in problems[0], problems


def test_microsoft_configured_from_a_secret_file(tmp_path):
    secret = tmp_path / "config" / "ms-secret"
    secret.parent.mkdir(parents=True, exist_ok=True)
    secret.write_text("s3cret\n", encoding="utf-8")
    path = write_config(tmp_path, '[microsoft]\nclient_id = "abc"\n'
                                  'client_secret_file = "ms-secret"\n')
    config = load(path, environ={})
    assert config.microsoft.configured and config.microsoft.client_secret == "s3cret"
    assert config.microsoft.token_url == \
        "https://login.microsoftonline.com/common/oauth2/v2.0/token"
    assert config.microsoft.verify is True


@pytest.mark.parametrize("text, needle", [
    ('[mail]\nhost = "smtp.example.com"\nuser = "bot"\n',
     "mail.user: set, but no password: set mail.password_file or BOOKINGCAL_MAIL_PASSWORD"),
    ('[mail]\npassword_file = "nowhere"\n', "mail.password_file: found"),
    ('[mail]\nhost = "relay"\nsecurity = "none"\nuser = "bot"\npassword_file = "pw"\n',
     "mail.security: found 'none' with mail.user set, expected starttls or tls"),
    ('[mail]\nsecurity = "ssl"\n', "mail.security: found 'ssl' (a string), expected one of "
                                   "starttls, tls, none"),
    ('[mail]\nport = 0\n', "mail.port: found 0"),
    ('[mail]\nsender = "Bob <bob@example.com>"\n', "mail.sender: found"),
    ('[mail]\nca_file = "nowhere.pem"\n', "mail.ca_file: found"),
    ('[webhook]\nurl = "https://booking.example.com/hooks"\n',
     "webhook.url: set, but no key to sign with"),
    ('[webhook]\nurl = "ftp://x"\n', "webhook.url: found 'ftp://x'"),
    ('[health]\npush_stale_minutes = 0\n', "health.push_stale_minutes: found 0"),
])
def test_mail_and_webhook_mistakes_are_named(tmp_path, text, needle):
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "pw").write_text("secret", encoding="utf-8")
    _, problems = text_problems(tmp_path, text)
    assert any(needle in line for line in problems), problems


def test_mail_and_webhook_secrets_from_files_or_the_environment(tmp_path):
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "pw").write_text("from-file\n", encoding="utf-8")
    text = ('[mail]\nhost = "smtp.example.com"\nport = 465\nsecurity = "TLS"\nuser = "bot"\n'
            'password_file = "pw"\n[webhook]\nurl = "https://booking.example.com/hooks"\n')
    config = load_text(tmp_path, text, {"BOOKINGCAL_WEBHOOK_SECRET": "hook-key"})
    assert config.mail.configured and config.mail.security == "tls"
    assert config.mail.password == "from-file" and "from-file" not in repr(config.mail)
    assert config.webhook.configured and config.webhook.secret == "hook-key"
    assert "hook-key" not in repr(config)
    env = load_text(tmp_path, text, {"BOOKINGCAL_WEBHOOK_SECRET": "k",
                                     "BOOKINGCAL_MAIL_PASSWORD": "from-env"})
    assert env.mail.password == "from-env"
    assert not load_text(tmp_path, "").mail.configured
