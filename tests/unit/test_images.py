"""Image references, the built-in registry, the image map and the process settings derived from an image."""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from ecslite.builtin.registry import (
    BuiltinImage,
    BuiltinRegistry,
    InvalidReference,
    normalize_repository_pattern,
    parse_reference,
)
from ecslite.config import Settings
from ecslite.runtime.base import ContainerCreateFailed, ContainerStartFailed, ImagePullFailed
from ecslite.runtime.process.images import (
    DEFAULT_PATH,
    ImageMapError,
    ImageResolver,
    ResolvedImage,
    load_image_map,
    process_argv,
    process_cwd,
    process_env,
    resolve_user,
)

DIGEST = "sha256:" + "ab" * 32
SEED_PYTHON = "<AWS_ACCOUNT_ID>.dkr.ecr.ap-northeast-1.amazonaws.com/otel-demo:python"


# -- references -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("nginx", "docker.io/library/nginx:latest"),
        ("nginx:1.25", "docker.io/library/nginx:1.25"),
        ("library/nginx", "docker.io/library/nginx:latest"),
        ("docker.io/nginx", "docker.io/library/nginx:latest"),
        ("index.docker.io/library/nginx:1", "docker.io/library/nginx:1"),
        ("amazon/aws-for-fluent-bit:stable", "docker.io/amazon/aws-for-fluent-bit:stable"),
        ("localhost/app", "localhost/app:latest"),
        ("localhost:5000/team/app:v1", "localhost:5000/team/app:v1"),
        ("Registry.Example.com/app", "Registry.Example.com/app:latest"),
        ("public.ecr.aws/aws-observability/aws-for-fluent-bit:2.32.0", None),
        (f"nginx@{DIGEST}", f"docker.io/library/nginx@{DIGEST}"),
        (f"nginx:1.25@{DIGEST}", f"docker.io/library/nginx:1.25@{DIGEST}"),
        (SEED_PYTHON, None),
    ],
)
def test_reference_normalised_as_docker_does(text: str, canonical: str | None) -> None:
    assert parse_reference(text).canonical == (canonical or text)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("Nginx", "invalid reference format: repository name must be lowercase"),
        ("team/App:v1", "invalid reference format: repository name must be lowercase"),
        ("nginx:", "invalid reference format"),
        ("nginx@sha256:abc", "invalid reference format"),
        ("", "invalid reference format"),
        ("my app", "invalid reference format"),
        ("app:-bad", "invalid reference format"),
    ],
)
def test_reference_invalid_with_dockers_message(text: str, message: str) -> None:
    with pytest.raises(InvalidReference) as raised:
        parse_reference(text)
    assert str(raised.value) == message


def test_reference_ecr_domain_gives_account_and_region() -> None:
    ecr = parse_reference("123456789012.dkr.ecr.ap-northeast-1.amazonaws.com/otel-demo:python").ecr
    assert ecr is not None
    assert (ecr.account, ecr.region, ecr.path) == ("123456789012", "ap-northeast-1", "otel-demo")
    assert parse_reference(SEED_PYTHON).ecr is not None
    assert parse_reference("public.ecr.aws/x/y").ecr is None


# -- built-in registry ------------------------------------------------------------------------------


def _fluent_bit(*patterns: str) -> BuiltinImage:
    return BuiltinImage(name="aws-for-fluent-bit", repositories=patterns, module="ecslite.builtin.fluentbit")


def test_builtin_lookup_matches_any_tag_and_digest() -> None:
    registry = BuiltinRegistry()
    image = _fluent_bit("amazon/aws-for-fluent-bit", "public.ecr.aws/aws-observability/aws-for-fluent-bit")
    registry.register(image)
    for text in (
        "amazon/aws-for-fluent-bit",
        "amazon/aws-for-fluent-bit:2.32.0",
        f"docker.io/amazon/aws-for-fluent-bit@{DIGEST}",
        "public.ecr.aws/aws-observability/aws-for-fluent-bit:stable",
    ):
        assert registry.lookup(parse_reference(text)) is image, text
    assert registry.lookup(parse_reference("amazon/aws-for-fluent-bit-extra")) is None
    assert registry.lookup(parse_reference("fluent/fluent-bit")) is None


def test_builtin_wildcard_matches_within_one_component() -> None:
    registry = BuiltinRegistry()
    image = _fluent_bit("*.dkr.ecr.*.amazonaws.com/aws-for-fluent-bit")
    registry.register(image)
    assert registry.lookup(parse_reference("906394416424.dkr.ecr.us-east-1.amazonaws.com/aws-for-fluent-bit:stable"))
    assert (
        registry.lookup(parse_reference("906394416424.dkr.ecr.us-east-1.amazonaws.com/team/aws-for-fluent-bit")) is None
    )


def test_builtin_patterns_normalised_and_duplicates_refused() -> None:
    assert normalize_repository_pattern("fluent/fluent-bit") == "docker.io/fluent/fluent-bit"
    assert normalize_repository_pattern("busybox") == "docker.io/library/busybox"
    assert normalize_repository_pattern("index.docker.io/amazon/*") == "docker.io/amazon/*"
    registry = BuiltinRegistry()
    registry.register(_fluent_bit("fluent/fluent-bit"))
    with pytest.raises(ValueError, match="already registered"):
        registry.register(_fluent_bit("docker.io/fluent/fluent-bit"))
    with pytest.raises(ValueError, match="without tag or digest"):
        registry.register(_fluent_bit("fluent/fluent-bit:latest"))
    assert len(registry) == 1


def test_builtin_resolves_to_python_module_on_host_filesystem() -> None:
    registry = BuiltinRegistry()
    registry.register(
        BuiltinImage(
            name="xray", repositories=("amazon/aws-xray-daemon",), module="ecslite.builtin.xray", command=("-o",)
        )
    )
    resolver = ImageResolver(Settings(), builtins=registry)
    image = resolver.resolve("amazon/aws-xray-daemon:latest")
    assert image.source == "builtin"
    assert image.root is None
    assert image.entry_point == (sys.executable, "-m", "ecslite.builtin.xray")
    assert image.command == ("-o",)


# -- image map --------------------------------------------------------------------------------------


def _write_map(tmp_path: Path, entries: dict[str, object], name: str = "images.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(entries))
    return path


def _resolver(map_path: Path | None) -> ImageResolver:
    return ImageResolver(Settings(image_map=map_path), builtins=BuiltinRegistry())


def test_map_entry_defaults_working_directory_and_path(tmp_path: Path) -> None:
    app = tmp_path / "app"
    app.mkdir()
    resolver = _resolver(_write_map(tmp_path, {"web": {"path": str(app), "command": ["python3", "server.py"]}}))
    image = resolver.resolve("web:latest")
    assert image.source == "image-map"
    assert image.root is None
    assert image.working_directory == str(app)
    assert image.environment["PATH"] == f"{app}:{DEFAULT_PATH}"
    assert (image.entry_point, image.command) == ((), ("python3", "server.py"))
    assert image.digest.startswith("sha256:") and len(image.digest) == 71


def test_map_path_root_runs_host_programs(tmp_path: Path) -> None:
    resolver = _resolver(_write_map(tmp_path, {"busybox": {"path": "/", "entryPoint": ["sleep"]}}))
    image = resolver.resolve("docker.io/library/busybox")
    assert image.environment["PATH"] == DEFAULT_PATH
    assert image.working_directory == "/"


def test_map_in_toml_with_relative_path(tmp_path: Path) -> None:
    (tmp_path / "svc").mkdir()
    path = tmp_path / "ecslite.toml"
    path.write_text(
        '[images."team/svc:v2"]\npath = "svc"\nentryPoint = ["./run"]\n'
        'environment = { MODE = "local", PORT = 8080 }\nworkingDirectory = "/tmp"\nstopSignal = "QUIT"\n'
    )
    image = _resolver(path).resolve("docker.io/team/svc:v2")
    assert image.entry_point == ("./run",)
    assert image.environment["MODE"] == "local"
    assert image.environment["PORT"] == "8080"
    assert image.environment["PATH"].startswith(str(tmp_path / "svc") + ":")
    assert image.working_directory == "/tmp"
    assert image.stop_signal == signal.SIGQUIT


def test_map_found_in_project_file_of_working_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "ecslite.toml").write_text('[images]\n"app:1" = { path = "/" }\n')
    monkeypatch.chdir(tmp_path)
    resolver = ImageResolver(Settings(), builtins=BuiltinRegistry())
    assert resolver.resolve("app:1").source == "image-map"


def test_map_tag_must_match(tmp_path: Path) -> None:
    resolver = _resolver(_write_map(tmp_path, {"web": {"path": "/"}}))
    with pytest.raises(ImagePullFailed):
        resolver.resolve("web:2")


def test_map_digest_reference_matches_digest_then_tag(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    resolver = _resolver(
        _write_map(
            tmp_path,
            {"web:1": {"path": str(tmp_path / "a")}, f"web@{DIGEST}": {"path": str(tmp_path / "b")}},
        )
    )
    pinned = resolver.resolve(f"web:1@{DIGEST}")
    assert pinned.working_directory == str(tmp_path / "b")
    assert pinned.digest == DIGEST  # a pinned digest is what DescribeTasks shows
    assert resolver.resolve("web:1").working_directory == str(tmp_path / "a")


def test_map_ecr_entry_matches_any_account(tmp_path: Path) -> None:
    resolver = _resolver(_write_map(tmp_path, {SEED_PYTHON: {"path": "/", "command": ["python3", "-V"]}}))
    image = resolver.resolve("123456789012.dkr.ecr.ap-northeast-1.amazonaws.com/otel-demo:python")
    assert image.command == ("python3", "-V")
    with pytest.raises(ImagePullFailed):
        resolver.resolve("123456789012.dkr.ecr.us-east-1.amazonaws.com/otel-demo:python")
    with pytest.raises(ImagePullFailed):
        resolver.resolve("123456789012.dkr.ecr.ap-northeast-1.amazonaws.com/otel-demo:go")


def test_map_exact_account_wins_over_other_account(tmp_path: Path) -> None:
    (tmp_path / "mine").mkdir()
    resolver = _resolver(
        _write_map(
            tmp_path,
            {
                SEED_PYTHON: {"path": "/"},
                "111111111111.dkr.ecr.ap-northeast-1.amazonaws.com/otel-demo:python": {"path": str(tmp_path / "mine")},
            },
        )
    )
    image = resolver.resolve("111111111111.dkr.ecr.ap-northeast-1.amazonaws.com/otel-demo:python")
    assert image.working_directory == str(tmp_path / "mine")


def test_digest_stable_and_follows_the_resolution(tmp_path: Path) -> None:
    path = _write_map(tmp_path, {"web": {"path": "/", "command": ["a"]}, "web2": {"path": "/", "command": ["a"]}})
    first = _resolver(path).resolve("web")
    assert _resolver(path).resolve("web:latest").digest == first.digest
    other_name = _resolver(path).resolve("web2")
    assert other_name.image_id == first.image_id  # same content, two names: one image id
    assert other_name.digest != first.digest
    _write_map(tmp_path, {"web": {"path": "/", "command": ["b"]}})
    assert _resolver(path).resolve("web").digest != first.digest


def test_map_reloaded_when_the_file_changes(tmp_path: Path) -> None:
    path = _write_map(tmp_path, {"web": {"path": "/"}})
    resolver = _resolver(path)
    with pytest.raises(ImagePullFailed):
        resolver.resolve("api")
    _write_map(tmp_path, {"web": {"path": "/"}, "api": {"path": "/", "command": ["x"]}})
    os.utime(path, ns=(1, 1))  # a distinct stamp even within the file system's time resolution
    assert resolver.resolve("api").command == ("x",)
    path.write_text("{broken")
    os.utime(path, ns=(2, 2))
    with pytest.raises(ImagePullFailed) as raised:
        resolver.resolve("api")
    assert "image map: unusable (image map " in raised.value.reason
    assert "is not valid JSON" in raised.value.reason


def test_map_directory_missing_fails_the_pull(tmp_path: Path) -> None:
    resolver = _resolver(_write_map(tmp_path, {"web": {"path": str(tmp_path / "gone")}}))
    with pytest.raises(ImagePullFailed) as raised:
        resolver.resolve("web")
    assert raised.value.reason.startswith(
        "CannotPullContainerError: failed to resolve ref docker.io/library/web:latest"
    )
    assert f"points at {tmp_path / 'gone'}, which is not a directory" in raised.value.reason


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        ({"web": {"command": ["x"]}}, '"path" (the directory the image stands for) is required'),
        ({"web": {"path": "/", "entrypoint": ["x"]}}, "unknown key 'entrypoint' (known keys: path, entryPoint,"),
        ({"web": {"path": "/", "command": "python3 app.py"}}, '"command" must be a list of strings'),
        ({"web": {"path": "/", "environment": ["A=1"]}}, '"environment" must be an object'),
        ({"web": {"path": "/", "environment": {"A": None}}}, "environment variable 'A' must have a string value"),
        ({"web": {"path": "/", "stopSignal": "SIGNOPE"}}, '"stopSignal" must be a signal name'),
        ({"Web": {"path": "/"}}, "entry 'Web': invalid reference format: repository name must be lowercase"),
        ({"web": "/srv"}, "the value must be an object"),
    ],
)
def test_map_errors_name_the_entry_and_the_fix(tmp_path: Path, entries: dict[str, object], message: str) -> None:
    path = _write_map(tmp_path, entries)
    with pytest.raises(ImageMapError) as raised:
        load_image_map(path)
    assert message in str(raised.value)
    assert str(path) in str(raised.value)


def test_map_file_missing_refused_at_start(tmp_path: Path) -> None:
    with pytest.raises(ImageMapError, match="does not exist"):
        _resolver(tmp_path / "nope.json")


# -- unresolvable images ----------------------------------------------------------------------------


def test_unmapped_image_error_without_map_says_how_to_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ImagePullFailed) as raised:
        _resolver(None).resolve("team/app:v1")
    reason = raised.value.reason
    assert reason.startswith("CannotPullContainerError: failed to resolve ref docker.io/team/app:v1: not found. ")
    assert "built-in images: none for docker.io/team/app" in reason
    assert "image map: none given" in reason
    assert "OCI image store: not loaded" in reason
    assert "--image-map FILE" in reason
    snippet = reason[reason.index("{") : reason.index("}}") + 2]
    assert json.loads(snippet) == {"team/app:v1": {"path": "/path/to/app", "command": ["./start"]}}


def test_unmapped_image_error_with_map_names_the_file(tmp_path: Path) -> None:
    path = _write_map(tmp_path, {"web": {"path": "/"}})
    with pytest.raises(ImagePullFailed) as raised:
        _resolver(path).resolve("api")
    assert f"image map {path}: no entry for docker.io/library/api:latest" in raised.value.reason
    assert f"add this entry to {path}" in raised.value.reason


def test_invalid_reference_fails_the_pull() -> None:
    with pytest.raises(ImagePullFailed) as raised:
        _resolver(None).resolve("Team/App")
    assert raised.value.reason == (
        "CannotPullContainerError: invalid reference format: repository name must be lowercase: 'Team/App'"
    )


def test_oci_store_consulted_after_the_map(tmp_path: Path) -> None:
    class Store:
        def __init__(self) -> None:
            self.asked: list[str] = []

        def resolve(self, reference: object, name: str) -> ResolvedImage | None:
            self.asked.append(name)
            return _image(tmp_path, name=name) if name == "loaded:1" else None

        def describe(self) -> str:
            return "1 image loaded"

    store = Store()
    resolver = ImageResolver(Settings(image_map=None), builtins=BuiltinRegistry(), oci_store=store)
    assert resolver.resolve("loaded:1").name == "loaded:1"
    with pytest.raises(ImagePullFailed) as raised:
        resolver.resolve("other")
    assert "OCI image store: 1 image loaded" in raised.value.reason
    assert store.asked == ["loaded:1", "other"]


# -- what the process gets --------------------------------------------------------------------------


def _image(
    root: Path | None = None,
    *,
    name: str = "img",
    entry_point: tuple[str, ...] = (),
    command: tuple[str, ...] = (),
    environment: dict[str, str] | None = None,
    working_directory: str | None = None,
) -> ResolvedImage:
    return ResolvedImage(
        name=name,
        source="image-map",
        digest="sha256:" + "0" * 64,
        image_id="sha256:" + "0" * 64,
        root=root,
        entry_point=entry_point,
        command=command,
        environment=environment or {},
        working_directory=working_directory,
    )


@pytest.mark.parametrize(
    ("definition_entry", "definition_command", "expected"),
    [
        ((), (), ["/entry", "--image-cmd"]),
        ((), ("serve",), ["/entry", "serve"]),
        (("/bin/sh", "-c"), (), ["/bin/sh", "-c"]),  # entryPoint alone drops the image CMD
        (("/bin/sh", "-c"), ("echo hi",), ["/bin/sh", "-c", "echo hi"]),
    ],
)
def test_argv_follows_dockers_merge(
    definition_entry: tuple[str, ...], definition_command: tuple[str, ...], expected: list[str]
) -> None:
    image = _image(entry_point=("/entry",), command=("--image-cmd",))
    assert process_argv(image, definition_entry, definition_command) == expected


def test_argv_command_alone_without_image_entrypoint() -> None:
    assert process_argv(_image(command=("default",)), (), ("sleep", "5")) == ["sleep", "5"]


def test_argv_empty_fails_create() -> None:
    with pytest.raises(ContainerCreateFailed) as raised:
        process_argv(_image(name="web"), (), ())
    assert raised.value.reason.startswith(
        "CannotCreateContainerError: Error response from daemon: No command specified"
    )


def test_env_container_wins_and_docker_defaults_fill_in() -> None:
    image = _image(environment={"PATH": "/app:/bin", "MODE": "image", "KEEP": "1"})
    env = process_env(image, {"MODE": "task"}, hostname="ip-10-0-0-5.ec2.internal")
    assert env == {
        "PATH": "/app:/bin",
        "MODE": "task",
        "KEEP": "1",
        "HOSTNAME": "ip-10-0-0-5.ec2.internal",
        "HOME": "/root",
    }
    assert process_env(_image(), {})["PATH"] == DEFAULT_PATH


def test_cwd_definition_replaces_workdir() -> None:
    assert process_cwd(_image(working_directory="/srv"), "/data") == "/data"
    assert process_cwd(_image(working_directory="/srv"), None) == "/srv"
    assert process_cwd(_image(), None) == "/"


# -- users ------------------------------------------------------------------------------------------


@pytest.fixture
def rootfs(tmp_path: Path) -> Path:
    etc = tmp_path / "etc"
    etc.mkdir()
    (etc / "passwd").write_text(
        "root:x:0:0:root:/root:/bin/sh\n"
        "app:x:1000:1000:App:/home/app:/bin/sh\n"
        "# a comment\n"
        "daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"
    )
    (etc / "group").write_text("root:x:0:\napp:x:1000:\nstaff:x:50:app,daemon\naudio:x:29:app\n")
    return tmp_path


@pytest.mark.parametrize(
    ("user", "uid", "gid", "groups", "home"),
    [
        (None, 0, 0, (), "/root"),
        ("app", 1000, 1000, (50, 29), "/home/app"),
        ("1000", 1000, 1000, (50, 29), "/home/app"),
        ("app:staff", 1000, 50, (), "/home/app"),
        ("app:7", 1000, 7, (), "/home/app"),
        ("1:audio", 1, 29, (), "/usr/sbin"),
        ("4242", 4242, 0, (), "/"),
        ("4242:4242", 4242, 4242, (), "/"),
    ],
)
def test_user_resolved_from_image_passwd(
    rootfs: Path, user: str | None, uid: int, gid: int, groups: tuple[int, ...], home: str
) -> None:
    resolved = resolve_user(_image(rootfs), user)
    assert (resolved.uid, resolved.gid, resolved.groups, resolved.home) == (uid, gid, groups, home)


def test_user_unknown_name_fails_start(rootfs: Path) -> None:
    with pytest.raises(ContainerStartFailed) as raised:
        resolve_user(_image(rootfs), "nobody2")
    assert raised.value.reason.startswith(
        "CannotStartContainerError: unable to find user nobody2: no matching entries in passwd file"
    )


def test_user_unknown_group_fails_start(rootfs: Path) -> None:
    with pytest.raises(ContainerStartFailed) as raised:
        resolve_user(_image(rootfs), "app:wheel")
    assert raised.value.reason.startswith(
        "CannotStartContainerError: unable to find group wheel: no matching entries in group file"
    )


def test_user_home_sets_home_variable(rootfs: Path) -> None:
    user = resolve_user(_image(rootfs), "app")
    assert process_env(_image(rootfs), {}, user=user)["HOME"] == "/home/app"
    assert process_env(_image(rootfs), {"HOME": "/x"}, user=user)["HOME"] == "/x"


def test_map_change_seen_by_every_thread_resolving_at_once(tmp_path: Path) -> None:
    path = _write_map(tmp_path, {"web": {"path": "/"}})
    resolver = _resolver(path)
    resolver.resolve("web")
    barrier = threading.Barrier(8)
    with ThreadPoolExecutor(max_workers=8) as pool:
        for round_number in range(10):  # the race this guards against shows in about half the rounds
            entries = {f"app{i}": {"path": "/", "command": [f"{round_number}-{i}"]} for i in range(8)}
            replacement = tmp_path / "next.json"
            replacement.write_text(json.dumps(entries))
            os.replace(replacement, path)

            def resolve(i: int) -> tuple[str, ...]:
                barrier.wait()
                return resolver.resolve(f"app{i}").command

            assert list(pool.map(resolve, range(8))) == [(f"{round_number}-{i}",) for i in range(8)]
