"""Serve a p3o reward plugin from Python.

This module is the Python side of what package sdk is in Go: go-plugin's
handshake (magic cookie, protocol versions, the handshake line on stdout),
AutoMTLS, the services go-plugin's host calls (health "plugin", controller
Shutdown, stdio stream), and the sdk's gRPC Reward service, converted to plain
Python values. A reward plugin is an object with six methods:

    describe()                            -> Spec
    configure(options: dict)              -> None   (the plugin's TOML table, parsed)
    score(samples: list[Sample])          -> list[float], one finite score per sample
    train(train, held_out, max_steps)     -> TrainResult  (lists of Comparison)
    save_state()                          -> bytes
    load_state(state: bytes)              -> None

and its main is

    serve_reward(MyReward())

Raise PluginError(message) for an error the host should show as it is; any
other exception is reported as "Method: Type: message" and its traceback is
logged. Calls are serialised: a plugin object needs no locks.

Log with the standard logging module: records go to stderr as hclog JSON,
which the host shows under the plugin's name (with -v for debug). Never write
to stdout: it carries the handshake (after it, sys.stdout goes to stderr, so a
stray print does no harm).

Needs Debian's python3-grpcio, python3-protobuf and python3-cryptography, run
with /usr/bin/python3. The stubs in gen/ come from regen.sh.
"""

import base64
import datetime
import json
import logging
import math
import os
import signal
import sys
import threading
import tomllib
import traceback
from concurrent import futures
from dataclasses import dataclass, field

sys.path.insert(0, os.path.join(os.path.dirname(os.path.realpath(__file__)), "gen"))

import grpc  # noqa: E402

import goplugin_pb2  # noqa: E402
import goplugin_pb2_grpc  # noqa: E402
import health_pb2  # noqa: E402
import health_pb2_grpc  # noqa: E402
import plugin_pb2  # noqa: E402
import plugin_pb2_grpc  # noqa: E402

# go-plugin's core protocol version (the first field of the handshake line).
CORE_PROTOCOL_VERSION = 1
# The handshake of sdk/serve.go (sdk.Handshake): the sdk's protocol version,
# and the magic cookie that tells a plugin it was started by a host. A Go
# test (examples/python-reward) checks these against the Go values.
PROTOCOL_VERSION = 1
MAGIC_COOKIE_KEY = "P3O_PLUGIN_MAGIC_COOKIE"
MAGIC_COOKIE_VALUE = "p3o-rlhf-plugin-7c1e2a9d4b"
# sdk.MaxMessageSize: reward states carry model weights.
MAX_MESSAGE_SIZE = 256 << 20

log = logging.getLogger("plugin")


class PluginError(Exception):
    """An error the host shows to the user as it is."""


@dataclass
class Spec:
    """sdk.Spec of a reward plugin."""

    name: str
    version: str
    trainable: bool = False
    # The plugin's options with their defaults, as its TOML table.
    default_options: dict = field(default_factory=dict)


@dataclass
class Sample:
    """sdk.Sample: text and token ids (ignore the ids if you tokenize)."""

    prompt: str
    response: str
    prompt_tokens: list
    response_tokens: list


@dataclass
class Comparison:
    """sdk.Comparison: a preference of chosen over rejected."""

    prompt: str
    chosen: str
    rejected: str


@dataclass
class TrainResult:
    """sdk.TrainResponse."""

    steps: int
    done: bool
    loss: float
    held_out_accuracy: float
    stats: dict = field(default_factory=dict)


# ---------------------------------------------------------------- TOML out


def _toml_key(k):
    if k and all(c.isascii() and (c.isalnum() or c in "_-") for c in k):
        return k
    return json.dumps(k)


def _toml_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)  # JSON string escapes are valid TOML basic strings
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    raise TypeError(f"option value {v!r}: want bool, int, float, str or a list of them")


def to_toml(table):
    """Renders a flat dict as a TOML table (Spec.default_options)."""
    return "".join(f"{_toml_key(k)} = {_toml_value(v)}\n" for k, v in table.items())


# ---------------------------------------------------------------- logging


class _HclogJSON(logging.Formatter):
    """Formats records as the hclog JSON lines go-plugin's host parses."""

    LEVELS = {logging.DEBUG: "debug", logging.INFO: "info", logging.WARNING: "warn",
              logging.ERROR: "error", logging.CRITICAL: "error"}

    def format(self, record):
        entry = {
            "@level": self.LEVELS.get(record.levelno, "info"),
            "@message": record.getMessage(),
            "@module": record.name,
            "@timestamp": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        }
        entry.update(getattr(record, "kv", {}))
        if record.exc_info:
            entry["error"] = "".join(traceback.format_exception(*record.exc_info)).strip()
        return json.dumps(entry, default=str)


def _setup_logging():
    h = logging.StreamHandler(sys.stderr)
    h.setFormatter(_HclogJSON())
    root = logging.getLogger()
    root.handlers[:] = [h]
    root.setLevel(logging.DEBUG)


# ---------------------------------------------------------------- services


class _RewardServicer(plugin_pb2_grpc.RewardServicer):
    """The sdk's Reward service over a plugin object."""

    def __init__(self, impl):
        self._impl = impl
        self._lock = threading.Lock()

    def _call(self, context, method, fn):
        try:
            with self._lock:
                return fn()
        except PluginError as e:
            context.abort(grpc.StatusCode.UNKNOWN, str(e))
        except Exception as e:  # a bug in the plugin: say where
            log.error(f"{method} failed", exc_info=True)
            context.abort(grpc.StatusCode.UNKNOWN, f"{method}: {type(e).__name__}: {e}")

    def Describe(self, request, context):
        def run():
            s = self._impl.describe()
            spec = plugin_pb2.Spec(
                name=s.name, version=s.version, protocol_version=PROTOCOL_VERSION, kind="reward",
                trainable=bool(s.trainable), default_options_toml=to_toml(s.default_options).encode())
            return plugin_pb2.DescribeResponse(spec=spec)
        return self._call(context, "Describe", run)

    def Configure(self, request, context):
        def run():
            text = request.options.decode("utf-8")
            try:
                options = tomllib.loads(text) if text.strip() else {}
            except tomllib.TOMLDecodeError as e:
                raise PluginError(f"decode options: {e}") from None
            self._impl.configure(options)
            return plugin_pb2.ConfigureResponse()
        return self._call(context, "Configure", run)

    def Score(self, request, context):
        def run():
            samples = [Sample(s.prompt, s.response, list(s.prompt_tokens), list(s.response_tokens))
                       for s in request.samples]
            scores = [float(x) for x in self._impl.score(samples)]
            if len(scores) != len(samples):
                raise RuntimeError(f"score returned {len(scores)} scores for {len(samples)} samples")
            for i, x in enumerate(scores):
                if not math.isfinite(x):
                    raise PluginError(f"score {i} is {x}: the reward is not finite")
            return plugin_pb2.ScoreResponse(scores=scores)
        return self._call(context, "Score", run)

    def Train(self, request, context):
        def run():
            conv = lambda cs: [Comparison(c.prompt, c.chosen, c.rejected) for c in cs]  # noqa: E731
            r = self._impl.train(conv(request.train), conv(request.held_out), int(request.max_steps))
            return plugin_pb2.TrainResponse(steps=r.steps, done=r.done, loss=r.loss,
                                            held_out_accuracy=r.held_out_accuracy, stats=r.stats)
        return self._call(context, "Train", run)

    def SaveState(self, request, context):
        return self._call(context, "SaveState", lambda: plugin_pb2.SaveStateResponse(state=self._impl.save_state()))

    def LoadState(self, request, context):
        def run():
            self._impl.load_state(bytes(request.state))
            return plugin_pb2.LoadStateResponse()
        return self._call(context, "LoadState", run)


class _Health(health_pb2_grpc.HealthServicer):
    """go-plugin pings the service "plugin"."""

    def Check(self, request, context):
        if request.service in ("", "plugin"):
            return health_pb2.HealthCheckResponse(status=health_pb2.HealthCheckResponse.SERVING)
        context.abort(grpc.StatusCode.NOT_FOUND, f"unknown service {request.service!r}")


class _Controller(goplugin_pb2_grpc.GRPCControllerServicer):
    """The host's Kill asks for a graceful shutdown here first."""

    def __init__(self, stop):
        self._stop = stop

    def Shutdown(self, request, context):
        threading.Thread(target=self._stop, daemon=True).start()
        return goplugin_pb2.Empty()


class _Stdio(goplugin_pb2_grpc.GRPCStdioServicer):
    """The host opens this stream at once; without it, it logs a warning.
    Nothing is sent: stdout is redirected to stderr, which the host reads."""

    def __init__(self, done):
        self._done = done

    def StreamStdio(self, request, context):
        while not self._done.wait(1.0) and context.is_active():
            pass
        return
        yield  # a generator that yields nothing


# ---------------------------------------------------------------- serving


def _server_credentials(client_cert_pem):
    """AutoMTLS, as go-plugin's Go side does it: a fresh self-signed ECDSA
    certificate for "localhost", announced in the handshake line (base64 DER,
    no padding), and the host's certificate (PLUGIN_CLIENT_CERT) as the only
    trusted client CA."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost"),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "p3o python plugin")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(seconds=30))
        .not_valid_after(now + datetime.timedelta(days=365 * 30))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=True, key_cert_sign=True,
                                     crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
                       critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    creds = grpc.ssl_server_credentials([(key_pem, cert_pem)], root_certificates=client_cert_pem.encode(),
                                        require_client_auth=True)
    der = cert.public_bytes(serialization.Encoding.DER)
    return creds, base64.b64encode(der).decode().rstrip("=")


def serve_reward(impl):
    """Serves impl as a reward plugin until the host ends it; returns the exit
    status for sys.exit."""
    if os.environ.get(MAGIC_COOKIE_KEY) != MAGIC_COOKIE_VALUE:
        sys.stderr.write(
            "This program is a p3o reward plugin. It is not meant to be run directly:\n"
            "start it through the host, e.g. go run ./host --algo plugins/p3o --reward " + sys.argv[0] + "\n")
        return 1
    _setup_logging()
    # Like go-plugin's Go plugins: Ctrl-C on the host's terminal reaches the
    # whole process group; the host, not the plugin, decides when to stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    done = threading.Event()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8), options=[
        ("grpc.max_send_message_length", MAX_MESSAGE_SIZE),
        ("grpc.max_receive_message_length", MAX_MESSAGE_SIZE),
    ])

    def stop():
        done.set()
        server.stop(grace=1)

    plugin_pb2_grpc.add_RewardServicer_to_server(_RewardServicer(impl), server)
    health_pb2_grpc.add_HealthServicer_to_server(_Health(), server)
    goplugin_pb2_grpc.add_GRPCControllerServicer_to_server(_Controller(stop), server)
    goplugin_pb2_grpc.add_GRPCStdioServicer_to_server(_Stdio(done), server)

    client_cert = os.environ.get("PLUGIN_CLIENT_CERT", "")
    cert_field = ""
    if client_cert:
        creds, cert_field = _server_credentials(client_cert)
        port = server.add_secure_port("127.0.0.1:0", creds)
    else:
        port = server.add_insecure_port("127.0.0.1:0")
    if port == 0:
        log.error("could not listen on 127.0.0.1")
        return 1
    server.start()

    # The protocol version is announced whatever the host offers
    # (PLUGIN_PROTOCOL_VERSIONS): a host that does not speak it refuses the
    # plugin with an error naming both versions, as with a Go plugin.
    line = f"{CORE_PROTOCOL_VERSION}|{PROTOCOL_VERSION}|tcp|127.0.0.1:{port}|grpc"
    if cert_field:
        line += "|" + cert_field
    sys.stdout.write(line + "\n")
    sys.stdout.flush()
    sys.stdout = sys.stderr

    try:
        server.wait_for_termination()
    finally:
        done.set()
    return 0
