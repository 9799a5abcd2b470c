"""Delivering notifications: sender threads, bounded retries, and what became of each.

:class:`Deliveries` takes notifications the notifier has *claimed* (a claim
document it created, see :mod:`dirt.notify`) and sends them from sender
threads, so one slow SMTP or HTTP server delays no other notification. Each
claim document records the outcome: ``sent``; ``retrying`` with its next try
(doubling delays from ``notify_retry_delay``); or ``failed`` with the error,
once ``notify_retries`` retries are used up or the refusal cannot change
(SMTP 5xx, HTTP 4xx). A claim stays leased (``expires``) while it is under
way, so a notifier that dies leaves it for another to take over.
"""
from __future__ import annotations

import copy
import heapq
import itertools
import logging
import queue
import threading
import time
from typing import Callable, Mapping

from . import channels
from .channels import DeliveryError, SmtpConfig
from .couch import Database
from .errors import Conflict, CouchError
from .notices import COMMIT_STATUS, FAILURE, WEBHOOK, describe
from .plural import plural
from .settings import Settings

log = logging.getLogger(__name__)


class Deliveries:
    """Sends claimed notifications; see the module docstring."""

    def __init__(self, db: Database, settings: Settings, environ: Mapping[str, str], lease: float,
                 clock: Callable[[], float] = time.time, senders: int = 4):
        self.db = db
        self.settings = settings
        self.environ = environ
        self.lease = lease
        self.clock = clock
        self.smtp = SmtpConfig.from_settings(settings, environ)
        self._senders = senders
        self._outbox: "queue.Queue[dict | None]" = queue.Queue()
        self._retries: list[tuple[float, int, dict]] = []     # (due, n, claim), a heap
        self._counter = itertools.count()
        self._cv = threading.Condition()
        self._busy = 0                  # claims taken in and not yet sent, failed or put off
        self._closing = False
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        for n in range(self._senders):
            thread = threading.Thread(target=self._send_loop, name=f"notify-send-{n}", daemon=True)
            self._threads.append(thread)
            thread.start()

    def idle(self) -> bool:
        with self._cv:
            return self._busy == 0 and not self._retries

    def wait_idle(self, timeout: float) -> bool:
        """Wait until every claim taken in is sent, failed or given up (no retry pending)."""
        with self._cv:
            return self._cv.wait_for(lambda: self._busy == 0 and not self._retries, timeout)

    def close(self, deadline: float) -> None:
        """Finish what is being sent until ``deadline`` (monotonic); leave the rest to others."""
        with self._cv:
            self._cv.wait_for(lambda: self._busy == 0, max(0.0, deadline - time.monotonic()))
            self._closing = True
            retries, self._retries = self._retries, []
        for _, _, claim in retries:
            self._release(claim)
        for _ in self._threads:
            self._outbox.put(None)
        for thread in self._threads:
            thread.join(max(0.1, deadline - time.monotonic()))
        self._threads = []

    def start_due_retries(self, now: float | None = None) -> None:
        """Send again, now, the notifications whose retry is due."""
        now = self.clock() if now is None else now
        while True:
            with self._cv:
                if not self._retries or self._retries[0][0] > now:
                    return
                _, _, claim = heapq.heappop(self._retries)
                self._busy += 1     # counted as a send from here on, so wait_idle never sees a gap
            claim.update(state="sending", expires=now + self.lease)
            try:
                saved = self.db.save(claim)
            except Conflict:
                log.info("%s: another server took it over", describe(claim))
                self._done()
                continue
            except CouchError as exc:
                log.warning("%s: cannot renew the claim yet (%s)", describe(claim), exc)
                claim["expires"] = now + 5
                with self._cv:
                    heapq.heappush(self._retries, (now + 5, next(self._counter), claim))
                self._done()
                continue
            self._outbox.put(saved)

    def _release(self, claim: dict) -> None:
        """Leave a claim for the next notifier (lease expired now)."""
        claim["expires"] = self.clock()
        try:
            self.db.save(claim)
        except CouchError:
            pass    # its lease runs out on its own

    def send(self, claim: dict) -> None:
        """Send a claimed notification (soon, from a sender thread)."""
        with self._cv:
            self._busy += 1
        self._outbox.put(claim)

    def _done(self) -> None:
        with self._cv:
            self._busy -= 1
            self._cv.notify_all()

    def _send_loop(self) -> None:
        while True:
            claim = self._outbox.get()
            if claim is None:
                return
            try:
                if self._closing:
                    self._release(claim)
                else:
                    self._deliver(claim)
            except Exception:
                log.exception("%s: could not be sent", describe(claim))
            finally:
                self._done()

    def _deliver(self, claim: dict) -> None:
        tries = int(claim.get("tries") or 0) + 1
        try:
            self._send(claim)
        except DeliveryError as exc:
            error, permanent = str(exc), exc.permanent
        except Exception as exc:    # a bug must not leave the claim "sending" forever
            log.exception("%s: unexpected failure", describe(claim))
            error, permanent = f"{type(exc).__name__}: {exc}", True
        else:
            claim.update(state="sent", tries=tries, sent=self.clock())
            claim.pop("error", None)
            claim.pop("next_try", None)
            if self._record_outcome(claim):
                log.info("%s sent", describe(claim))
            return
        retries = self.settings.notify_retries
        if permanent or tries > retries:
            claim.update(state="failed", tries=tries, error=error, failed=self.clock())
            claim.pop("next_try", None)
            self._record_outcome(claim)
            why = "it cannot succeed" if permanent else plural(tries, "try", "tries")
            log.error("%s failed, giving up after %s: %s", describe(claim), why, error)
            return
        delay = self.settings.notify_retry_delay * 2 ** (tries - 1)
        now = self.clock()
        claim.update(state="retrying", tries=tries, error=error, next_try=now + delay,
                     expires=now + delay + self.lease)
        saved = self._record_outcome(claim)
        log.warning("%s failed (try %d of %d): %s; retrying in %g s", describe(claim), tries, retries + 1,
                    error, delay)
        if saved is not None:
            with self._cv:
                heapq.heappush(self._retries, (now + delay, next(self._counter), saved))

    def _record_outcome(self, claim: dict) -> dict | None:
        """Save the claim's new state; keep trying while the database is unreachable.

        Not saving "sent" would let another server send it again once the
        lease runs out, so this tries for most of the lease.
        """
        deadline = time.monotonic() + self.lease / 2
        delay = 0.5
        while True:
            try:
                return self.db.save(copy.deepcopy(claim))
            except Conflict:
                log.warning("%s: another server took it over meanwhile", describe(claim))
                return None
            except CouchError as exc:
                if time.monotonic() > deadline:
                    log.error("%s: could not record that it was %s (%s)", describe(claim), claim["state"], exc)
                    return None
            time.sleep(delay)
            delay = min(delay * 2, 5.0)

    def _send(self, claim: dict) -> None:
        kind, message, s = claim.get("kind"), claim.get("message") or {}, self.settings
        if kind == FAILURE:
            refused = channels.send_email(message.get("to") or [], message.get("subject", ""),
                                          message.get("body", ""), smtp=self.smtp)
            if refused:
                log.warning("%s: the SMTP server refused %s", describe(claim), ", ".join(refused))
        elif kind == WEBHOOK:
            if not s.webhook_url:
                raise DeliveryError("webhook_url is not set (any more)", permanent=True)
            channels.post_json(s.webhook_url, message.get("body"), timeout=s.notify_timeout,
                               headers={"X-Dirt-Event": "record.finished", "X-Dirt-Delivery": claim["_id"]})
        elif kind == COMMIT_STATUS:
            service = message.get("service")
            if service != s.commit_status:
                raise DeliveryError(f"commit_status is not {service!r} (any more)", permanent=True)
            token = self.environ.get(self.token_env())
            if not token:
                raise DeliveryError(f"no token: the environment variable {self.token_env()} is not set",
                                    permanent=True)
            channels.post_commit_status(service, s.commit_status_api, message["repository"], message["sha"],
                                        state=message["state"], description=message["description"],
                                        target_url=message["target_url"], context=message["context"],
                                        token=token, timeout=s.notify_timeout)
        else:
            raise DeliveryError(f"unknown kind of notification {kind!r}", permanent=True)

    def token_env(self) -> str:
        """The environment variable holding the commit status token."""
        s = self.settings
        return s.commit_status_token_env or channels.COMMIT_STATUS_TOKEN_ENVS.get(s.commit_status, "")
