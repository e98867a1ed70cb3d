"""Real mail servers on loopback for the email integration tests.

* **Dovecot** (Debian's ``dovecot-imapd`` and ``dovecot-lmtpd``) with its own configuration in a
  temporary directory: IMAP without TLS and LMTP, each on a free loopback port, users in a
  passwd-file, Maildir storage. The master process runs as the current user; when that is
  root, mail is stored as ``nobody`` (Dovecot never accesses mail as root) and the helper
  processes run as the package's ``dovecot`` and ``dovenull`` users, as in a real install.
* **SMTP** (``aiosmtpd``): a real SMTP server on a loopback port. It accepts mail for the
  mailboxes Dovecot knows (like a domain's MX; AUTH is offered and checked against the same
  passwords, without TLS since everything stays on loopback) and hands each recipient's copy
  to Dovecot over LMTP, answering the SMTP client only once Dovecot has stored it.

Everything is removed again when :func:`running_mail_servers` exits.

Needs ``apt-get install dovecot-imapd dovecot-lmtpd`` and the ``aiosmtpd`` package; without
them the tests are skipped with the reason. Run: ``pytest -m integration tests/integration/email``.
"""

from __future__ import annotations

import asyncio
import contextlib
import grp
import os
import pwd
import re
import secrets
import shutil
import smtplib
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HOST = "127.0.0.1"
START_TIMEOUT = 15.0
# Which Debian package brings the program a Dovecot service runs.
PACKAGES = {"imap": "dovecot-imapd", "imap-login": "dovecot-imapd", "lmtp": "dovecot-lmtpd"}
INSTALL_HINT = "apt-get install dovecot-imapd dovecot-lmtpd"


class Unavailable(Exception):
    """A server cannot run on this machine (a program or package is missing)."""


@dataclass(frozen=True, slots=True)
class MailUser:
    address: str
    password: str


@dataclass(frozen=True, slots=True)
class Delivery:
    """One mail the SMTP server accepted, as it came over the wire."""

    mail_from: str
    recipients: tuple[str, ...]
    authenticated_as: str | None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def _answers(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=0.5):
            return True
    except OSError:
        return False


@dataclass(frozen=True, slots=True)
class _Accounts:
    """Which system users Dovecot's processes and the stored mail belong to."""

    internal_user: str
    internal_group: str
    login_user: str
    mail_uid: int
    mail_gid: int


def _accounts() -> _Accounts:
    if os.geteuid() != 0:
        # Not root: every Dovecot process runs as this user, as Dovecot supports for tests.
        me = pwd.getpwuid(os.geteuid())
        return _Accounts(
            me.pw_name, grp.getgrgid(me.pw_gid).gr_name, me.pw_name, me.pw_uid, me.pw_gid
        )
    nobody = pwd.getpwnam("nobody")

    def user(name: str) -> str:
        try:
            pwd.getpwnam(name)
        except KeyError:
            return nobody.pw_name
        return name

    internal = user("dovecot")
    internal_entry = pwd.getpwnam(internal)
    return _Accounts(
        internal_user=internal,
        internal_group=grp.getgrgid(internal_entry.pw_gid).gr_name,
        login_user=user("dovenull"),
        mail_uid=nobody.pw_uid,
        mail_gid=nobody.pw_gid,
    )


@dataclass
class Dovecot:
    """Dovecot in the foreground (``-F``) with the configuration this class writes."""

    root: Path
    imap_port: int
    lmtp_port: int
    _passwords: dict[str, str] = field(default_factory=dict)
    _process: subprocess.Popen[bytes] | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def config_path(self) -> Path:
        return self.root / "dovecot.conf"

    @property
    def log_path(self) -> Path:
        return self.root / "dovecot.log"

    @property
    def users_dir(self) -> Path:
        return self.root / "users"

    def config(self, accounts: _Accounts) -> str:
        root = self.root
        first_uid = min(accounts.mail_uid, 500)
        first_gid = min(accounts.mail_gid, 500)
        return f"""\
# Written by the socialdesk email integration tests; nothing outside {root} is used.
base_dir = {root}/run
state_dir = {root}/state
instance_name = socialdesk-test-{os.getpid()}
log_path = {self.log_path}
protocols = imap lmtp
listen = {HOST}
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
# A refused password is answered at once (the default waits 2 s to slow down guessing).
auth_failure_delay = 0
default_internal_user = {accounts.internal_user}
default_internal_group = {accounts.internal_group}
default_login_user = {accounts.login_user}
mail_uid = {accounts.mail_uid}
mail_gid = {accounts.mail_gid}
first_valid_uid = {first_uid}
first_valid_gid = {first_gid}
mail_location = maildir:~/Maildir
mail_fsync = never
postmaster_address = postmaster@localhost
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {self.users_dir}/%u
}}
userdb {{
  driver = passwd-file
  args = username_format=%u {self.users_dir}/%u
  default_fields = home={root}/mail/%d/%n
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = {HOST}
    port = {self.imap_port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service anvil {{
  chroot =
}}
service lmtp {{
  inet_listener lmtp {{
    address = {HOST}
    port = {self.lmtp_port}
  }}
  unix_listener lmtp {{
    mode = 0
  }}
}}
"""

    def add_user(self, user: MailUser) -> None:
        """Add a mailbox: a passwd-file of its own, written before its first use. (Dovecot
        checks a changed passwd-file at most once a second, so adding lines to one shared
        file can go unnoticed by a lookup in the same second.)"""
        partial = self.users_dir / f".{user.address}.new"
        partial.write_text(f"{user.address}:{{PLAIN}}{user.password}::::::\n")
        partial.chmod(0o644)
        partial.replace(self.users_dir / user.address)
        with self._lock:
            self._passwords[user.address.lower()] = user.password

    def password_of(self, address: str) -> str | None:
        """The mailbox's password, None when there is no such mailbox (the SMTP server asks
        from its own thread)."""
        with self._lock:
            return self._passwords.get(address.lower())

    def start(self, binary: str) -> None:
        accounts = _accounts()
        (self.root / "mail").mkdir()
        if os.geteuid() == 0:
            os.chown(self.root / "mail", accounts.mail_uid, accounts.mail_gid)
        self.users_dir.mkdir()
        self.config_path.write_text(self.config(accounts))
        # Output goes to a file, not a pipe nobody reads while the tests run.
        with (self.root / "dovecot.out").open("wb") as output:
            self._process = subprocess.Popen(
                [binary, "-F", "-c", str(self.config_path)],
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + START_TIMEOUT
        while not (_answers(self.imap_port) and _answers(self.lmtp_port)):
            if self._process.poll() is not None:
                self._process = None
                raise self._start_failure((self.root / "dovecot.out").read_text())
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(
                    f"Dovecot did not listen on {HOST}:{self.imap_port} (IMAP) and "
                    f":{self.lmtp_port} (LMTP) within {START_TIMEOUT:.0f} s; its log:\n"
                    + self._log_tail()
                )
            time.sleep(0.05)

    def _log_tail(self) -> str:
        # The directory is removed when the servers stop: errors carry the log themselves.
        log = self.log_path.read_text() if self.log_path.exists() else ""
        return log[-3000:]

    def _start_failure(self, output: str) -> Exception:
        text = (output + "\n" + self._log_tail()).strip()
        missing = re.search(r"service\(([\w-]+)\) access\((\S+)\) failed", text)
        if missing:
            package = PACKAGES.get(missing.group(1), "the Dovecot package")
            return Unavailable(
                f"Dovecot's {missing.group(1)} program is not installed ({missing.group(2)}); "
                f"install {package} ({INSTALL_HINT})"
            )
        return RuntimeError(f"Dovecot stopped while starting:\n{text[-3000:]}")

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


class LmtpRelay:
    """aiosmtpd handler: accept mail for known mailboxes, store it in Dovecot by LMTP."""

    def __init__(self, dovecot: Dovecot, deliveries: list[Delivery]) -> None:
        self.dovecot = dovecot
        self.deliveries = deliveries

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        if self.dovecot.password_of(address) is None:
            return f"550 5.1.1 <{address}>: no such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        content = bytes(envelope.original_content)
        recipients = tuple(str(r) for r in envelope.rcpt_tos)
        mail_from = str(envelope.mail_from or "")
        try:
            await asyncio.to_thread(self._deliver, mail_from, recipients, content)
        except (smtplib.SMTPException, OSError) as exc:
            return f"451 4.3.0 could not store the mail: {exc}"
        login = getattr(session.auth_data, "login", None) if session.authenticated else None
        self.deliveries.append(
            Delivery(
                mail_from=mail_from,
                recipients=recipients,
                authenticated_as=login.decode() if isinstance(login, bytes) else login,
            )
        )
        return "250 2.0.0 stored"

    def _deliver(self, mail_from: str, recipients: tuple[str, ...], content: bytes) -> None:
        # One LMTP transaction per recipient: LMTP answers DATA once per recipient, and
        # smtplib reads a single answer.
        for recipient in recipients:
            with smtplib.LMTP(HOST, self.dovecot.lmtp_port, timeout=10) as lmtp:
                lmtp.sendmail(mail_from, [recipient], content)


class PasswordCheck:
    """aiosmtpd authenticator: the passwords Dovecot has in its passwd-file."""

    def __init__(self, dovecot: Dovecot) -> None:
        self.dovecot = dovecot

    def __call__(
        self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> Any:
        from aiosmtpd.smtp import AuthResult, LoginPassword

        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        login = auth_data.login.decode()
        known = self.dovecot.password_of(login)
        ok = known is not None and secrets.compare_digest(known.encode(), auth_data.password)
        return AuthResult(success=ok, handled=False, auth_data=auth_data)


@dataclass
class MailServers:
    """What the tests see: where the servers listen, a way to add mailboxes, and a record of
    what the SMTP server accepted."""

    dovecot: Dovecot
    smtp_port: int
    deliveries: list[Delivery]
    host: str = HOST

    @property
    def imap_port(self) -> int:
        return self.dovecot.imap_port

    def mailbox(self, local_part: str, domain: str) -> MailUser:
        """A new, empty mailbox with a unique address (``local_part-<random>@domain``)."""
        user = MailUser(f"{local_part}-{secrets.token_hex(4)}@{domain}", secrets.token_urlsafe(12))
        self.dovecot.add_user(user)
        return user


def dovecot_binary() -> str:
    binary = shutil.which("dovecot") or next(
        (p for p in ("/usr/sbin/dovecot", "/usr/local/sbin/dovecot") if os.access(p, os.X_OK)),
        None,
    )
    if binary is None:
        raise Unavailable(f"Dovecot is not installed (no dovecot program); {INSTALL_HINT}")
    return binary


@contextlib.contextmanager
def running_mail_servers() -> Iterator[MailServers]:
    """Dovecot and the SMTP server, started in a new temporary directory and stopped again."""
    binary = dovecot_binary()
    try:
        from aiosmtpd.controller import Controller
    except ImportError as exc:
        raise Unavailable(f"the SMTP server needs the aiosmtpd package ({exc})") from exc
    # Not pytest's tmp_path: its parent is private to the current user, and Dovecot's helper
    # processes (dovecot, dovenull, the mail user) must be able to walk into this directory.
    root = Path(tempfile.mkdtemp(prefix="socialdesk-mail-"))
    root.chmod(0o711)
    dovecot = Dovecot(root=root, imap_port=free_port(), lmtp_port=free_port())
    deliveries: list[Delivery] = []
    smtp_port = free_port()
    controller = Controller(
        LmtpRelay(dovecot, deliveries),
        hostname=HOST,
        port=smtp_port,
        server_hostname="mail.socialdesk.test",
        authenticator=PasswordCheck(dovecot),
        auth_required=False,
        auth_require_tls=False,
    )
    smtp_running = False
    try:
        dovecot.start(binary)
        controller.start()
        smtp_running = True
        yield MailServers(dovecot=dovecot, smtp_port=smtp_port, deliveries=deliveries)
    finally:
        if smtp_running:
            controller.stop()
        dovecot.stop()
        shutil.rmtree(root, ignore_errors=True)
