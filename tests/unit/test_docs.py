"""README.md and docs/ stay true to the code: the configuration page is generated from the settings
classes, every LINGUAFLOW_* variable they name exists, every code block either runs in a test or
says it is an illustration, every `linguaflow ...` command parses with the CLI's own parser,
every relative link resolves, and no text tells the repository's history instead of facts."""

from __future__ import annotations

import ast
import importlib.util
import io
import json
import re
import shlex
from contextlib import redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from bench.__main__ import parse as parse_bench
from linguaflow.client import Translation, TranslationClient
from linguaflow.schemas.request import TranslationRequest, request_from_dict
from linguaflow.settings import REPO_ROOT, Settings
from linguaflow.streams.providers.pseudo import pseudo_localise
from tests.unit.test_ops import assert_real_command

DOCS = REPO_ROOT / "docs"
PAGES = [REPO_ROOT / "README.md", *sorted(DOCS.glob("*.md"))]
THIS_TEST = "tests/unit/test_docs.py"

# Variables that are not settings but that the docs name, and the file that reads each.
HARNESS_VARIABLES = {
    "LINGUAFLOW_TEST_KAFKA_BOOTSTRAP": "testbed/services.py",
    "LINGUAFLOW_TEST_DATABASE_URL": "testbed/services.py",
    "LINGUAFLOW_FAULTS_LONG": "tests/integration/test_faults.py",
    "LINGUAFLOW_KAFKA_EXTRA_PROPS": "ops/kafka/kafka.sh",
    "LINGUAFLOW_KAFKA_FORMAT_ARGS": "ops/kafka/kafka.sh",
}
MARKER = re.compile(r"^<!-- (?:(sdk-example): [\w-]+|(illustration)|(runs-in): (\S+)) -->$")
SHELL = {"bash", "sh", "shell", "console"}
ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")


def rel(path: Path) -> str:
    return str(path.relative_to(REPO_ROOT))


# --- configuration ------------------------------------------------------------------------------


def gen_config() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_config", DOCS / "gen_config.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_configuration_page_is_generated_from_the_settings() -> None:
    expected = gen_config().render()
    assert (DOCS / "configuration.md").read_text() == expected, (
        "docs/configuration.md is out of date: .venv/bin/python docs/gen_config.py > docs/configuration.md"
    )


def test_every_setting_is_described_and_listed() -> None:
    page = (DOCS / "configuration.md").read_text()
    for name, field in Settings.model_fields.items():
        assert field.description, f"{name} has no Field(description=...)"
        assert f"`LINGUAFLOW_{name.upper()}`" in page or name == "database_url"
    assert "`DATABASE_URL`" in page


def real_variables() -> set[str]:
    names = set()
    for name, field in Settings.model_fields.items():
        names |= set(gen_config().variables(name, field))
    return names


def test_harness_variables_are_read_where_the_docs_say() -> None:
    for name, path in HARNESS_VARIABLES.items():
        assert name in (REPO_ROOT / path).read_text(), f"{name} is not read by {path}"
        assert name not in real_variables()


@pytest.mark.parametrize("page", PAGES, ids=rel)
def test_every_variable_named_is_a_real_setting(page: Path) -> None:
    known = real_variables() | set(HARNESS_VARIABLES)
    for found in set(re.findall(r"LINGUAFLOW_[A-Z0-9_*]*", page.read_text())):
        if found == "LINGUAFLOW_":
            continue  # the prefix itself
        if "*" in found:  # a family: LINGUAFLOW_KAFKA_*
            pattern = re.compile(re.escape(found).replace(r"\*", "[A-Z0-9_]+"))
            assert any(pattern.fullmatch(name) for name in known), f"{rel(page)}: {found} matches no setting"
        else:
            assert found in known, f"{rel(page)}: {found} is not a setting"


# --- code blocks --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Block:
    page: Path
    line: int  # of the opening fence, 1-based
    lang: str
    body: str
    marker: str  # the comment before it, or ""

    def __str__(self) -> str:
        return f"{rel(self.page)}:{self.line}"

    @property
    def runs_in(self) -> str | None:
        match = MARKER.match(self.marker)
        return match.group(4) if match else None


def blocks(page: Path) -> list[Block]:
    lines = page.read_text().splitlines()
    found, i = [], 0
    while i < len(lines):
        fence = re.match(r"^\s*(`{3,}|~{3,})\s*([\w+-]*)", lines[i])
        if not fence:
            i += 1
            continue
        end = next(j for j in range(i + 1, len(lines)) if lines[j].strip() == fence.group(1))
        before = [line.strip() for line in lines[:i] if line.strip()]
        body = "\n".join(line.strip() if fence.group(2) in SHELL else line for line in lines[i + 1 : end])
        found.append(Block(page, i + 1, fence.group(2), body, before[-1] if before else ""))
        i = end + 1
    return found


ALL_BLOCKS = [block for page in PAGES for block in blocks(page)]


def test_the_pages_have_code_blocks() -> None:
    assert len(ALL_BLOCKS) >= 20
    assert {b.page.name for b in ALL_BLOCKS} >= {"README.md", "sdk.md", "replay.md", "benchmarks.md"}


@pytest.mark.parametrize("block", ALL_BLOCKS, ids=str)
def test_every_code_block_runs_in_a_test_or_is_an_illustration(block: Block) -> None:
    match = MARKER.match(block.marker)
    assert match, f"{block}: put <!-- illustration --> or <!-- runs-in: TEST --> before the block"
    if block.runs_in:
        test = REPO_ROOT / block.runs_in
        assert test.is_file(), f"{block}: {block.runs_in} does not exist"
        assert block.runs_in.startswith("tests/"), block
        assert test.name.startswith("test_"), block
    if match.group(1):  # sdk-example: read and run by the integration test of the client
        assert block.page == DOCS / "sdk.md", f"{block}: the SDK examples live in docs/sdk.md"
        assert block.lang == "python"


def test_the_sdk_examples_are_where_their_integration_test_reads_them() -> None:
    names = re.findall(r"<!-- sdk-example: ([\w-]+) -->", (DOCS / "sdk.md").read_text())
    assert sorted(names) == ["chat", "cms"]
    test = (REPO_ROOT / "tests" / "integration" / "test_client.py").read_text()
    assert '"docs" / "sdk.md"' in test
    for name in names:
        assert f'readme_example("{name}")' in test


def command_lines(block: Block) -> list[list[str]]:
    """Each command of a shell block as argv, comments and leading VAR=value assignments removed."""
    commands = []
    for line in block.body.replace("\\\n", " ").splitlines():
        argv = shlex.split(line, comments=True)
        while argv and ASSIGNMENT.match(argv[0]):
            argv = argv[1:]
        if argv:
            commands.append(argv)
    return commands


def make_targets() -> set[str]:
    makefile = (REPO_ROOT / "Makefile").read_text()
    return set(re.findall(r"^([a-z][\w-]*):", makefile, re.MULTILINE))


def check_make(argv: list[str]) -> None:
    for arg in argv[1:]:
        if arg.startswith("BENCH_ARGS="):
            parse_bench(["run", *shlex.split(arg.split("=", 1)[1])])
        else:
            assert not ASSIGNMENT.match(arg), argv
            assert arg in make_targets(), f"make {arg}: no such target in the Makefile"


def is_bench(argv: list[str]) -> bool:
    return Path(argv[0]).name.startswith("python") and argv[1:3] == ["-m", "bench"]


SHELL_BLOCKS = [b for b in ALL_BLOCKS if b.lang in SHELL]


@pytest.mark.parametrize("block", SHELL_BLOCKS, ids=str)
def test_shell_blocks_run_real_commands(block: Block) -> None:
    """Every `linguaflow ...` line parses with the CLI's parser wherever it is; a block that says
    it runs here holds nothing else than CLI, make and bench commands, each checked."""
    for argv in command_lines(block):
        program = Path(argv[0]).name
        if program == "linguaflow":
            assert_real_command(argv)
        elif block.runs_in == THIS_TEST and program == "make":
            check_make(argv)
        elif block.runs_in == THIS_TEST and is_bench(argv):
            parse_bench(argv[3:])
        else:
            assert block.runs_in not in {THIS_TEST, None}, f"{block}: {argv} is run by no test"


def test_the_blocks_that_run_here_hold_commands() -> None:
    here = [b for b in SHELL_BLOCKS if b.runs_in == THIS_TEST]
    commands = [argv for b in here for argv in command_lines(b)]
    assert sum(Path(argv[0]).name == "linguaflow" for argv in commands) >= 20
    assert any(argv[:2] == ["make", "demo"] for argv in commands)


@pytest.mark.parametrize("page", PAGES, ids=rel)
def test_inline_cli_commands_are_real(page: Path) -> None:
    for command in re.findall(r"`((?:\.venv/bin/)?linguaflow [a-z][^`]*)`", page.read_text()):
        assert_real_command(shlex.split(command))


@pytest.mark.parametrize("block", [b for b in ALL_BLOCKS if b.lang == "json"], ids=str)
def test_json_blocks_are_valid_requests(block: Block) -> None:
    assert block.runs_in == THIS_TEST
    request = request_from_dict(json.loads(block.body), max_text_chars=50_000, now_ms=0)
    assert request.request_id


@pytest.mark.parametrize("block", [b for b in ALL_BLOCKS if b.lang == "python"], ids=str)
def test_python_blocks_compile(block: Block) -> None:
    compile(block.body, str(block), "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)


class PseudoClient(TranslationClient):
    """The real client with the broker and worker replaced: each request published is answered
    at once with its pseudo-localised text, as a worker with the `pseudo` provider does."""

    answered: list[str] = []  # noqa: RUF012 - shared on purpose: the example makes its own client

    async def start(self) -> None:
        self._started = True

    async def stop(self) -> None:
        self._started = False

    async def _send(self, requests: list[TranslationRequest]) -> None:
        self._check_running()
        for request in requests:
            text = pseudo_localise(request.text, request.target_lang)
            PseudoClient.answered.append(text)
            self._pending.resolve(
                request.request_id,
                Translation(request.request_id, text, "pseudo", "pseudo/1", False, False, 0.0, "key"),
            )


@pytest.mark.parametrize(
    "block", [b for b in ALL_BLOCKS if b.lang == "python" and b.runs_in == THIS_TEST], ids=str
)
def test_python_blocks_that_run_here_translate_through_the_client(
    block: Block, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("linguaflow.client.TranslationClient", PseudoClient)
    PseudoClient.answered = []
    out = io.StringIO()
    namespace: dict[str, Any] = {"__name__": "__main__"}
    with redirect_stdout(out):
        exec(compile(block.body, str(block), "exec"), namespace)
    assert PseudoClient.answered, f"{block} translated nothing"
    for text in PseudoClient.answered:
        assert text in out.getvalue()


def test_the_readme_tour_runs_here() -> None:
    readme = [b for b in ALL_BLOCKS if b.page.name == "README.md" and b.lang == "python"]
    assert [b.runs_in for b in readme] == [THIS_TEST]


# --- links and metrics --------------------------------------------------------------------------


def anchors(page: Path) -> set[str]:
    """Heading anchors as GitHub and mkdocs make them."""
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.DOTALL)
    return {
        re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-")
        for h in re.findall(r"^#+ (.+)$", text, re.MULTILINE)
    }


@pytest.mark.parametrize("page", PAGES, ids=rel)
def test_relative_links_resolve(page: Path) -> None:
    for target in re.findall(r"\]\(([^)\s]+)\)", page.read_text()):
        if re.match(r"^[a-z]+:", target):
            continue
        path, _, anchor = target.partition("#")
        linked = (page.parent / path).resolve() if path else page
        assert linked.exists(), f"{rel(page)}: {target} does not exist"
        if path and page.is_relative_to(DOCS):
            assert linked.is_relative_to(DOCS), f"{rel(page)}: {target} is outside docs/ (mkdocs)"
        if anchor:
            assert anchor in anchors(linked), f"{rel(page)}: {target}: no such heading"


def test_the_readme_is_a_front_door() -> None:
    readme = (REPO_ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 250
    for page in sorted(DOCS.glob("*.md")):
        if page.name != "index.md":
            assert f"(docs/{page.name})" in readme, f"README.md does not link docs/{page.name}"


def test_the_site_lists_every_page() -> None:
    nav = (REPO_ROOT / "mkdocs.yml").read_text()
    for page in sorted(DOCS.glob("*.md")):
        assert f": {page.name}" in nav, f"mkdocs.yml's nav lacks {page.name}"


# --- no history ---------------------------------------------------------------------------------

HISTORY = re.compile(
    r"\bstops?\s+#?\d|\bissues?\s+#?\d|\btargets?'?\s+owners?\b|\bowners?\s+of\s+the\s+targets?\b",
    re.IGNORECASE,
)
TEXT_SUFFIXES = {".md", ".py", ".yml", ".yaml", ".json", ".sh", ".toml", ".sql", ".env", ".service", ".timer"}
SKIP = {"__pycache__", "out", "target", ".venv", ".local"}


def text_files() -> list[Path]:
    roots = ["docs", "ops", "bench", "linguaflow", "streams", "sinks", "schemas", "testbed", "tests"]
    files = {REPO_ROOT / name for name in ("README.md", "CHANGELOG.md", "Makefile", "Dockerfile")}
    files |= {REPO_ROOT / name for name in ("mkdocs.yml", "pyproject.toml", "docker-compose.yml")}
    for root in roots:
        for path in (REPO_ROOT / root).rglob("*"):
            parts = set(path.relative_to(REPO_ROOT).parts)
            if path.is_file() and path.suffix in TEXT_SUFFIXES and not parts & SKIP:
                files.add(path.resolve())  # linguaflow/streams etc. are links: each file once
    return sorted(files)


def test_no_text_tells_history_instead_of_facts() -> None:
    files = text_files()
    assert len(files) > 100
    found = [
        f"{rel(path)}:{n}: {line.strip()}"
        for path in files
        for n, line in enumerate(path.read_text(errors="replace").splitlines(), 1)
        if HISTORY.search(line)
    ]
    assert not found, "state facts with dates or commits instead:\n" + "\n".join(found)
