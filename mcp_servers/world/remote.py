"""Real Cosmos endpoints (they need GPUs; tests replay canned responses from a local server).

* Reason — Cosmos-Reason2 served OpenAI-compatibly (vLLM or NIM): ``POST {reason_url}/chat/completions``
  with the frames as ``image_url`` data URIs and the question as text. The model answers
  ``<think>…</think><answer>…</answer>``; we parse the answer (tags optional, JSON or prose).
* Predict / Transfer — Cosmos-Predict2 and Cosmos-Transfer2.5 NIMs: ``POST {url}/v1/infer``
  with ``{"prompt", "image" (data URI), "seed"}`` (Transfer: ``"video"`` frames and ``"prompt"``);
  the response carries ``"frames"`` (base64 images) or ``"b64_video"``.
"""

from __future__ import annotations

import asyncio
import json
import re
import urllib.error
import urllib.request
from typing import Any

from auraison.errors import Unavailable

from .models import Frame, Verdict

REASON_SYSTEM = (
    "You are a physical-reasoning critic for a mobile robot. You see frames of the robot's "
    "predicted motion. Decide whether executing it is safe. Answer with "
    '<think>your reasoning</think><answer>{"verdict": "go"|"no_go"|"uncertain", '
    '"confidence": 0..1, "rationale": "one sentence"}</answer>.'
)


class WorldBackendError(Unavailable):
    """A world-model endpoint failed or answered something unusable."""


async def post_json(url: str, body: dict[str, Any], api_key: str | None, timeout_s: float) -> dict[str, Any]:
    def call() -> dict[str, Any]:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        req = urllib.request.Request(url, json.dumps(body).encode(), headers, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=timeout_s) as resp:
                return json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            detail = exc.read()[:300].decode(errors="replace")
            raise WorldBackendError(f"{url} answered HTTP {exc.code}: {detail}") from None
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            raise WorldBackendError(f"{url} is unreachable: {exc}") from None
        except ValueError as exc:
            raise WorldBackendError(f"{url} did not answer JSON: {exc}") from None

    return await asyncio.to_thread(call)


def data_uri(frame: Frame) -> str:
    return f"data:image/{frame.format};base64,{frame.data}"


def reason_request(model: str, frames: list[Frame], question: str) -> dict[str, Any]:
    content: list[dict[str, Any]] = [{"type": "image_url", "image_url": {"url": data_uri(f)}} for f in frames]
    content.append({"type": "text", "text": question})
    return {
        "model": model,
        "temperature": 0.2,
        "max_tokens": 1024,
        "messages": [{"role": "system", "content": REASON_SYSTEM}, {"role": "user", "content": content}],
    }


_ANSWER = re.compile(r"<answer>(.*?)(?:</answer>|$)", re.S | re.I)
_THINK = re.compile(r"<think>.*?(?:</think>|$)", re.S | re.I)


def parse_reason(text: str, backend: str) -> Verdict:
    """Robust to missing tags, unclosed tags, JSON or prose answers, and chatter around them."""
    m = _ANSWER.search(text)
    answer = (m.group(1) if m else _THINK.sub("", text)).strip()
    data: dict[str, Any] = {}
    j = re.search(r"\{.*\}", answer, re.S)
    if j:
        try:
            data = json.loads(j.group(0))
        except ValueError:
            data = {}
    raw = str(data.get("verdict", answer)).lower().replace("-", "_").replace(" ", "_")
    if "no_go" in raw or "nogo" in raw or re.search(r"\b(unsafe|stop|abort)\b", raw):
        verdict = "no_go"
    elif "uncertain" in raw or "unsure" in raw or "unclear" in raw:
        verdict = "uncertain"
    elif re.search(r"\bgo\b|\bsafe\b|\byes\b", raw.replace("_", " ")):
        verdict = "go"
    else:
        verdict = "uncertain"  # never read an unclear answer as permission
    try:
        confidence = min(1.0, max(0.0, float(data.get("confidence", 0.5))))
    except (TypeError, ValueError):
        confidence = 0.5
    rationale = str(data.get("rationale") or answer or "no rationale given")[:500]
    return Verdict(
        verdict=verdict, rationale=rationale, confidence=confidence, backend=backend, stand_in=False
    )


async def reason(
    base_url: str, model: str, api_key: str | None, frames: list[Frame], question: str, timeout_s: float
) -> Verdict:
    body = reason_request(model, frames, question)
    resp = await post_json(f"{base_url.rstrip('/')}/chat/completions", body, api_key, timeout_s)
    try:
        text = resp["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError):
        raise WorldBackendError(f"unexpected chat completion shape: {str(resp)[:200]}") from None
    if isinstance(text, list):  # some servers return content parts
        text = " ".join(p.get("text", "") for p in text if isinstance(p, dict))
    return parse_reason(str(text), f"cosmos-reason ({model})")


def frames_from(resp: dict[str, Any], synthetic: bool) -> list[Frame]:
    if isinstance(resp.get("frames"), list):
        return [
            Frame(t=float(i), format="jpeg", data=str(f), synthetic=synthetic)
            for i, f in enumerate(resp["frames"])
        ]
    if isinstance(resp.get("b64_video"), str):  # one opaque video: keep it as a single frame blob
        return [Frame(t=0.0, format="png", data=resp["b64_video"], synthetic=synthetic)]
    raise WorldBackendError(f"no frames in the response: keys {sorted(resp)}")


async def predict(url: str, api_key: str | None, frame: Frame, prompt: str, timeout_s: float) -> list[Frame]:
    resp = await post_json(
        f"{url.rstrip('/')}/v1/infer",
        {"prompt": prompt, "image": data_uri(frame), "seed": 0},
        api_key,
        timeout_s,
    )
    return frames_from(resp, synthetic=True)


async def transfer(
    url: str, api_key: str | None, frames: list[Frame], prompt: str, timeout_s: float
) -> list[Frame]:
    body = {"prompt": prompt, "video": [data_uri(f) for f in frames], "seed": 0}
    resp = await post_json(f"{url.rstrip('/')}/v1/infer", body, api_key, timeout_s)
    return frames_from(resp, synthetic=False)
