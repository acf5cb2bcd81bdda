"""An OIDC token endpoint on 127.0.0.1 for OAUTHBEARER tests: the client credentials grant
(RFC 6749 §4.4) with the client authenticated by HTTP Basic. It issues unsecured JWTs (``alg:
none``, claims ``sub`` = the client id, ``iat``, ``exp``, ``scope``), which is what a Kafka broker
with its default OAUTHBEARER validator accepts, so a test can reach a real broker with them. A
wrong client gets 401 ``invalid_client``, a wrong grant 400."""

from __future__ import annotations

import base64
import time
from typing import Any
from urllib.parse import parse_qs

import orjson

from testbed.fakes.http_fake import HttpFake, QuietHandler


def unsecured_jwt(claims: dict[str, Any]) -> str:
    def part(doc: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(orjson.dumps(doc)).rstrip(b"=").decode()

    return f"{part({'alg': 'none'})}.{part(claims)}."


class FakeOidc(HttpFake):
    def __init__(self, client_id: str, client_secret: str, *, lifetime_s: int = 3600) -> None:
        self.client_id, self.client_secret, self.lifetime_s = client_id, client_secret, lifetime_s
        self.issued: list[str] = []  # tokens, in order
        self.scopes: list[str | None] = []
        fake = self

        class Handler(QuietHandler):
            def on_post(self) -> None:
                form = parse_qs(self.rfile.read(int(self.headers["Content-Length"])).decode())
                expected = base64.b64encode(f"{fake.client_id}:{fake.client_secret}".encode()).decode()
                if self.headers.get("Authorization") != f"Basic {expected}":
                    self._answer(401, {"error": "invalid_client"})
                elif form.get("grant_type") != ["client_credentials"]:
                    self._answer(400, {"error": "unsupported_grant_type"})
                else:
                    scope = form.get("scope", [None])[0]
                    now = int(time.time())
                    token = unsecured_jwt(
                        {
                            "sub": fake.client_id,
                            "iat": now,
                            "exp": now + fake.lifetime_s,
                            "scope": scope or "",
                        }
                    )
                    fake.issued.append(token)
                    fake.scopes.append(scope)
                    answer = {"access_token": token, "token_type": "Bearer", "expires_in": fake.lifetime_s}
                    self._answer(200, answer)

            def _answer(self, status: int, doc: dict[str, Any]) -> None:
                self.answer(status, orjson.dumps(doc), "application/json")

        super().__init__(Handler)
        self.url = f"http://127.0.0.1:{self.port}/oauth2/token"
