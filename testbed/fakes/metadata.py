"""A fake of Google's metadata server (what Compute Engine, GKE workload identity and Cloud Run
serve at 169.254.169.254) on 127.0.0.1, for Application Default Credentials tests: google-auth
finds it through ``GCE_METADATA_HOST`` and ``GCE_METADATA_IP``. It answers only requests that
carry ``Metadata-Flavor: Google``, as the real one does, and serves the default service
account's tokens (made by ``mint``), its e-mail and scopes, and the project id."""

from __future__ import annotations

from collections.abc import Callable

import orjson

from testbed.fakes.apis import GOOGLE_V3_PROJECT
from testbed.fakes.http_fake import HttpFake, QuietHandler

PROJECT = GOOGLE_V3_PROJECT  # the project this machine runs in, as the fake API knows it
EMAIL = f"workload@{PROJECT}.iam.gserviceaccount.com"


class FakeMetadata(HttpFake):
    def __init__(self, mint: Callable[[], str], *, lifetime_s: int = 3600) -> None:
        self.paths: list[str] = []
        fake = self

        class Handler(QuietHandler):
            def on_get(self) -> None:
                fake.paths.append(self.path)
                if self.headers.get("Metadata-Flavor") != "Google":
                    self._answer(403, b"Missing Metadata-Flavor:Google header.", "text/plain")
                    return
                path = self.path.split("?")[0]
                base = "/computeMetadata/v1/"
                if path in ("/", base):
                    self._answer(200, b"", "text/plain")
                elif path == base + "project/project-id":
                    self._answer(200, PROJECT.encode(), "text/plain")
                elif path == base + "universe/universe-domain":
                    self._answer(200, b"googleapis.com", "text/plain")
                elif path.endswith("/token"):
                    token = {"access_token": mint(), "expires_in": lifetime_s, "token_type": "Bearer"}
                    self._answer(200, orjson.dumps(token), "application/json")
                elif path.startswith(base + "instance/service-accounts/default"):
                    info = {"email": EMAIL, "scopes": ["https://www.googleapis.com/auth/cloud-platform"]}
                    self._answer(200, orjson.dumps({**info, "aliases": ["default"]}), "application/json")
                else:
                    self._answer(404, b"not found", "text/plain")

            def _answer(self, status: int, body: bytes, content_type: str) -> None:
                self.answer(status, body, content_type, Metadata_Flavor="Google")

        super().__init__(Handler)
        self.host = f"127.0.0.1:{self.port}"
