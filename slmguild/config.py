"""The guild file (`guild.yaml`) as pydantic models.

Validation happens here, at the edge: everything past `load_config` can trust its input.
Errors name the file, the line and the field (`guild.yaml:12: experts.it.model.backend: ...`).
Relative paths in the file (GGUF models, adapters, knowledge sources) are resolved
against the directory of the guild file.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal, overload

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)
from ruamel.yaml import YAML

from slmguild.errors import ConfigError
from slmguild.yaml_files import line_of, read_yaml, validate_yaml

Backend = Literal["embedded", "ollama", "openai"]
DEFAULT_MODEL = "smollm2-135m-instruct"
DEFAULT_EMBEDDER = "all-minilm-l6-v2-q8"
ExpertName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_-]*$", max_length=64)]


class _Strict(BaseModel):
    # A typo in a key is an error, not a silently ignored setting.
    model_config = ConfigDict(extra="forbid")


@overload
def _resolve_path(value: str, info: ValidationInfo) -> str: ...
@overload
def _resolve_path(value: None, info: ValidationInfo) -> None: ...
def _resolve_path(value: str | None, info: ValidationInfo) -> str | None:
    """Make a relative file path absolute against the guild file's directory."""
    base_dir = (info.context or {}).get("base_dir")
    if value is None or base_dir is None or Path(value).is_absolute():
        return value
    return str((Path(base_dir) / value).resolve())


class Generation(_Strict):
    """Sampling settings; any field left out keeps the default's value."""

    temperature: float = Field(0.2, ge=0, le=2)
    top_p: float | None = Field(None, gt=0, le=1)
    max_tokens: int = Field(256, ge=1, le=32768)
    seed: int | None = None
    stop: list[str] = Field(default_factory=list)
    repeat_penalty: float | None = Field(
        None, ge=0.5, le=2, description="Embedded and Ollama only; ~1.1 curbs loops in tiny models"
    )


class ModelSpec(_Strict):
    """Which model answers, on which backend, with which adapter.

    `name` is a catalog name (`smollm2-135m-instruct`), a path to a GGUF file, a file
    pulled from a model hub (`hf.co/OWNER/REPO:FILE.gguf`), an Ollama tag, or the model name an OpenAI-compatible server knows. `adapter` is a
    GGUF LoRA file (embedded engine, llama-server) or the adapter's model name on a
    multi-LoRA server (vLLM, LoRAX) or an Ollama tag built with that adapter.
    """

    backend: Backend | None = None
    name: str | None = None
    adapter: str | None = None
    adapter_scale: float = Field(1.0, ge=0, le=4)
    adapter_base: str | None = Field(
        None,
        pattern="^[0-9a-f]{64}$",
        description="SHA-256 of the base GGUF the adapter was trained on (written by "
        "`slmguild finetune train`); an adapter served on another base is refused",
    )
    url: str | None = Field(None, description="Server URL for the ollama and openai backends")
    api_key_env: str | None = Field(
        None, description="Name of the environment variable that holds the API key"
    )
    timeout_s: float = Field(
        120, gt=0, description="ollama/openai: seconds a server may take to answer one request "
        "(up to 3 attempts, with backoff)"
    )
    generation: Generation | None = None

    @field_validator("name", "adapter")
    @classmethod
    def _gguf_paths_relative_to_guild(cls, value: str | None, info: ValidationInfo) -> str | None:
        # A hub name (`hf.co/OWNER/REPO:FILE.gguf`, slmguild.serving.hub) ends like a path but is none.
        if value is not None and value.endswith(".gguf") and not value.startswith(("hf.co/", "huggingface.co/")):
            return _resolve_path(value, info)
        return value

    def merged_over(self, base: ModelSpec) -> ModelSpec:
        """This spec with every field it leaves unset taken from `base`.

        An expert that changes the backend does not inherit the default's model
        name or URL: those belong to the other backend.
        """
        own = self.model_dump(exclude_unset=True)
        if "backend" in own and own["backend"] != base.backend:
            inherited = base.model_dump(include={"generation"}, exclude_unset=True)
        else:
            inherited = base.model_dump(exclude_unset=True)
        generation = base.generation or Generation()
        if self.generation is not None:
            generation = generation.model_copy(
                update=self.generation.model_dump(exclude_unset=True)
            )
        return ModelSpec.model_validate({**inherited, **own, "generation": generation.model_dump()})


def _model_shorthand(value: Any) -> Any:
    """`model: smollm2-135m-instruct` means `model: {name: smollm2-135m-instruct}`."""
    return {"name": value} if isinstance(value, str) else value


class KnowledgeConfig(_Strict):
    """The documents an expert answers from (ingested by `slmguild ingest`)."""

    sources: list[str] = Field(
        default_factory=list,
        description="Files or folders (relative to this file) of Markdown, text, HTML or PDF",
    )
    top_k: int | None = Field(None, ge=1, le=50, description="Chunks put in the prompt")

    @field_validator("sources")
    @classmethod
    def _relative_to_guild(cls, value: list[str], info: ValidationInfo) -> list[str]:
        return [_resolve_path(source, info) or source for source in value]


class EmbedderSpec(_Strict):
    """The model that embeds chunks and queries.

    `onnx`: a catalog ONNX encoder run in this process (default, offline);
    `embedded`: a GGUF on the embedded llama.cpp engine; `ollama` / `openai`: a
    server's embedding model; `sentence-transformers`: a local model directory or
    name (the `[sentence-transformers]` extra).
    """

    backend: Literal["onnx", "embedded", "ollama", "openai", "sentence-transformers"] = "onnx"
    name: str = DEFAULT_EMBEDDER
    url: str | None = None
    api_key_env: str | None = None
    query_prefix: str = Field("", description='Put before every query (e5 models: "query: ")')
    document_prefix: str = Field("", description='Put before every chunk (e5: "passage: ")')


class RerankerSpec(_Strict):
    """What reorders the retrieved candidates: nothing (default), a sentence-transformers
    cross-encoder (`name:` a model directory or name), or a llama-server started with
    a reranker GGUF and `--reranking` (`url:`)."""

    backend: Literal["none", "cross-encoder", "llama-server"] = "none"
    name: str | None = None
    url: str | None = None


class StoreConfig(_Strict):
    """Where the knowledge lives: Qdrant in local mode under the data directory
    (default), a local folder (`path:`), or a Qdrant server or cluster (`url:`)."""

    path: str | None = None
    url: str | None = None
    api_key_env: str | None = Field(None, description="Environment variable with the API key")

    _relative = field_validator("path")(_resolve_path)


class KnowledgeSettings(_Strict):
    """How every expert's documents are chunked, embedded, stored and searched."""

    roots: list[str] = Field(
        default_factory=list,
        description="Folders (relative to this file) that sources must lie in; "
        "default: the guild file's folder",
    )
    chunk_size: int = Field(256, ge=32, le=8192, description="Tokens per chunk, at most")
    chunk_overlap: int = Field(32, ge=0, le=2048)
    top_k: int = Field(3, ge=1, le=50, description="Chunks put in the prompt")
    candidates: int = Field(20, ge=1, le=500, description="Candidates each search fetches")
    search: Literal["hybrid", "dense", "sparse"] = "hybrid"
    embedder: EmbedderSpec = Field(default_factory=EmbedderSpec)
    reranker: RerankerSpec = Field(default_factory=RerankerSpec)
    store: StoreConfig = Field(default_factory=StoreConfig)

    @field_validator("roots")
    @classmethod
    def _roots_relative_to_guild(cls, value: list[str], info: ValidationInfo) -> list[str]:
        return [_resolve_path(root, info) or root for root in value]


class AnswerConfig(_Strict):
    """How an expert writes its answer (docs/answers.md).

    grounded: the model states the answer in one short sentence from the passages most
    like the question, the sentence is checked against them and leads the answer with its
    source (a sentence that fails the check is not shown: the best passage leads instead);
    extractive: the best passage leads, no generation; generative: the model answers
    freely from whole chunks. The passages travel as the reply's sources.
    An expert without knowledge or tools (the fallback) answers freely under grounded and
    extractive too, but an answer with a figure the question does not hold is replaced by
    `not_found`.
    """

    strategy: Literal["grounded", "extractive", "generative"] = Field(
        "grounded", description="grounded | extractive | generative"
    )
    passages: int = Field(
        3, ge=1, le=10, description="Sentences, list items or table rows the answer rests on"
    )
    chunks: int = Field(5, ge=1, le=50, description="Chunks searched for those passages")
    min_similarity: float = Field(
        0.3, ge=-1, le=1,
        description="A passage less similar to the question than this is not relevant; with none left, "
        "the answer says that nothing was found (benchmarks/not_found.py measures a threshold)",
    )
    max_tokens: int = Field(48, ge=8, le=4096, description="Length of the model's sentence, at most (tokens)")
    not_found: str = Field(
        "I could not find this in my documents.",
        description="What the expert says when its documents and tools have nothing on the question: "
        "say where the user can ask",
    )


class ExpertConfig(_Strict):
    """One member of the guild: a prompt, a model (+ adapter), knowledge and tools."""

    description: str = Field(
        min_length=1,
        description="What this expert owns, in one sentence; list its topics between commas: "
        "the trained router learns each as a sub-topic",
    )
    system_prompt: str = Field(min_length=1)
    exemplars: dict[str, list[str]] | list[str] = Field(
        default_factory=dict,
        description="Routing exemplars, best grouped by sub-topic: {vpn: [...], laptops: [...]}",
    )
    model: ModelSpec = Field(default_factory=ModelSpec)
    knowledge: KnowledgeConfig = Field(default_factory=KnowledgeConfig)
    tools: list[str] = Field(
        default_factory=list,
        description="The only tools this expert may call: toolbox tool names, module:function, "
        "or the names of MCP servers' tools (`mcp_servers`)",
    )
    tool_calling: Literal["auto", "native", "constrained"] = Field(
        "auto",
        description="constrained: JSON-schema decoding (reliable on small models); native: "
        "the backend's tool calling; auto: constrained on the embedded engine, else native",
    )
    tool_choice: Literal["nearest", "model"] = Field(
        "nearest",
        description="Who decides whether to call a tool (constrained calling). nearest: when the "
        "labelled request most like the user's (a tool's example, or an exemplar: answered "
        "without a tool) is a tool call, that tool is called and the model fills in its "
        "arguments; otherwise the model decides. model: the model always decides",
    )
    demonstrations: int = Field(
        4, ge=0, le=64,
        description="How many labelled requests most like the user's are shown to the model "
        "as earlier turns before it chooses its step (tools' examples and exemplars)",
    )
    max_steps: int = Field(4, ge=1, le=32, description="Tool calls per turn, at most")
    max_retries: int = Field(
        2, ge=0, le=10, description="Times an invalid or refused call is retried with the error fed back"
    )
    tool_timeout_s: float = Field(10.0, gt=0, le=600)
    auto_approve: bool | list[str] = Field(
        False,
        description="Tools that change something run without asking the user first (automation): "
        "true for all of this expert's tools, or their names. By default every such call waits "
        "for the user's approval",
    )
    answer: AnswerConfig = Field(
        default_factory=AnswerConfig, description="This expert's answer settings, over the guild's `answer:`"
    )

    _shorthand = field_validator("model", mode="before")(_model_shorthand)

    def exemplar_groups(self) -> dict[str, list[str]]:
        """Exemplars grouped by sub-topic; a flat list is one group named after nothing."""
        if isinstance(self.exemplars, list):
            return {"": list(self.exemplars)} if self.exemplars else {}
        return dict(self.exemplars)


class FallbackConfig(_Strict):
    """The generalist that answers what no expert owns."""

    description: str = "A generalist for requests that no expert owns."
    system_prompt: str = (
        "You are a helpful general assistant. Answer briefly. "
        "If the question needs a specialist, say so."
    )
    model: ModelSpec = Field(default_factory=ModelSpec)
    answer: AnswerConfig = Field(
        default_factory=lambda: AnswerConfig(
            not_found="I cannot answer that reliably here: please ask a colleague who knows, or the help desk."
        ),
        description="The fallback's answer settings, over the guild's `answer:` (it has no documents: "
        "an answer with a figure the question does not hold is replaced by `not_found`)",
    )

    _shorthand = field_validator("model", mode="before")(_model_shorthand)


class McpServerConfig(_Strict):
    """An MCP server whose tools experts may use (`slmguild.tools.mcp`): a `command` that
    starts it (stdio) or the `url` of a running one (streamable HTTP). Its tools join the
    guild's under their own names (after `prefix`); an expert lists those it may call."""

    command: str | None = Field(None, description="stdio: the program that starts the server, e.g. npx or python")
    args: list[str] = Field(default_factory=list, description="stdio: its arguments")
    env: dict[str, str] = Field(
        default_factory=dict, description="stdio: extra environment variables ($VAR and ${VAR} are expanded)"
    )
    cwd: str | None = Field(None, description="stdio: its working directory; default: the guild file's folder")
    url: str | None = Field(None, description="streamable HTTP: the server's endpoint, e.g. http://localhost:8000/mcp")
    headers: dict[str, str] = Field(
        default_factory=dict,
        description="streamable HTTP: request headers, e.g. Authorization: Bearer ${TOKEN} ($VAR is expanded, "
        "so a secret stays out of the file)",
    )
    prefix: str = Field("", description="Put before each tool's name, when two servers' tools share a name")
    approval: Literal["annotations", "always"] = Field(
        "annotations",
        description="annotations: a tool the server marks readOnlyHint runs at once, any other waits for the "
        "user's approval; always: every call of this server's tools waits (annotations are only the "
        "server's word)",
    )
    timeout_s: float = Field(30, gt=0, le=600, description="How long starting or reaching the server may take")

    _cwd_relative = field_validator("cwd")(_resolve_path)

    @model_validator(mode="after")
    def _one_transport(self, info: ValidationInfo) -> McpServerConfig:
        if (self.command is None) == (self.url is None):
            raise ValueError("give either `command` (a server to start, stdio) or `url` (streamable HTTP)")
        if self.command is not None and self.cwd is None:
            # Like toolboxes and knowledge sources: `args: [server.py]` is next to the guild file.
            base_dir = (info.context or {}).get("base_dir")
            self.cwd = str(base_dir) if base_dir is not None else None
        return self


class EngineConfig(_Strict):
    """Settings of the embedded llama.cpp engine."""

    n_ctx: int = Field(4096, ge=256, description="Context size in tokens, shared by all slots")
    threads: int | None = Field(None, ge=1, description="CPU threads; default: all cores")
    parallel: int = Field(1, ge=1, le=64, description="Requests decoded concurrently (slots)")
    prompt_cache_mib: int = Field(
        512, ge=0, description="Host memory for evaluated prompts that later requests reuse (llama.cpp's "
        "prompt cache: each expert's fixed prefix is evaluated once); 0 keeps only what each slot holds",
    )
    port: int = Field(
        0, ge=0, le=65535, description="Loopback HTTP port; 0 or a taken port picks a free one"
    )


class SessionsConfig(_Strict):
    """Where conversations are kept: `sqlite` (a file in the data directory), a path to
    an SQLite file, or a PostgreSQL URL (`postgresql://...`)."""

    store: str = "sqlite"
    lock_timeout_s: float = Field(
        10, gt=0, description="SQLite: how long a turn waits for a store that another process is writing"
    )

    @field_validator("store")
    @classmethod
    def _file_relative_to_guild(cls, value: str, info: ValidationInfo) -> str:
        if value == "sqlite" or "://" in value:
            return value
        return _resolve_path(value, info) or value


class TelemetryConfig(_Strict):
    """OpenTelemetry traces of each turn (`docs/telemetry.md`); needs the `otel` extra.

    Off by default. `SLMGUILD_TELEMETRY` (1/0) and `OTEL_SDK_DISABLED` override
    `enabled`; `OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT` overrides `capture_content`."""

    enabled: bool = Field(False, description="Export each turn as spans to the application's tracer provider")
    capture_content: bool = Field(
        False, description="Also record what was said: messages, tool arguments and results, queries "
        "(opt-in, as the GenAI semantic conventions ask: spans often leave the machine)",
    )


class RoutingConfig(_Strict):
    """How a request finds its expert (see `slmguild router calibrate`)."""

    router: Literal["cascade", "embedding", "llm"] = "cascade"
    thresholds: dict[str, float] = Field(
        default_factory=dict,
        description="Per-expert score below which the expert does not own a request; "
        "written by `slmguild router calibrate`",
    )
    default_threshold: float = Field(0.3, ge=-1, le=1)
    tie_breaker: bool = Field(
        False, description="cascade: ask the model when the top two experts are this close"
    )
    close_call: float = Field(0.03, ge=0, le=1, description="Margin that counts as a close call")
    switch_margin: float = Field(
        0.05, ge=0, le=1, description="How clearly a follow-up must belong elsewhere to leave its expert"
    )
    multi_expert: bool = Field(True, description="Split requests that span several experts")
    follow_ups: bool = Field(
        True, description="Route and search a follow-up (\"and in Munich?\") as the question in context: the "
        "session's last question followed by it",
    )
    planner: Literal["clauses", "llm"] = Field(
        "clauses",
        description="How to split: route each clause (deterministic), or ask the model for a plan",
    )
    min_relevance: float = Field(
        0.25, ge=-1, le=1,
        description="Escalate when an expert's best retrieved chunk is less similar than this",
    )
    model: str | None = Field(
        None,
        description="A router trained by `slmguild router train` (a .npz beside this file): it scores "
        "requests instead of the exemplar centroids; null: the centroids",
    )
    out_of_scope: list[str] = Field(
        default_factory=list,
        description="Requests that no expert owns, near this guild's topics: the trained router "
        "learns them besides its shipped general requests",
    )

    @field_validator("model")
    @classmethod
    def _relative_to_guild(cls, value: str | None, info: ValidationInfo) -> str | None:
        return _resolve_path(value, info)

    # Chosen on the example guild (docs/routing.md): routing
    # accuracy up by 3-4 points on two sets, out-of-scope requests kept away as before.
    document_match: float | None = Field(
        0.4, ge=-1, le=1,
        description="When no expert's exemplars own a request, the expert with a document chunk at "
        "least this similar to it (cosine) takes it; null: never",
    )


class GuildConfig(_Strict):
    """The whole guild file."""

    name: str = Field(min_length=1)
    description: str = ""
    defaults: ModelSpec = Field(
        default_factory=lambda: ModelSpec(backend="embedded", name=DEFAULT_MODEL),
        description="The model every expert uses unless it says otherwise",
    )
    engine: EngineConfig = Field(default_factory=EngineConfig)
    toolboxes: list[str] = Field(
        default_factory=list,
        description="Python files (relative to this file) or modules whose tools experts may use",
    )
    mcp_servers: dict[str, McpServerConfig] = Field(
        default_factory=dict,
        description="MCP servers whose tools experts may use, by a name of your choice (docs/mcp.md)",
    )
    experts: dict[ExpertName, ExpertConfig] = Field(min_length=1)
    fallback: FallbackConfig = Field(default_factory=FallbackConfig)
    escalation: ModelSpec | None = Field(
        None, description="The larger model that takes what no small model should answer"
    )
    knowledge: KnowledgeSettings = Field(default_factory=KnowledgeSettings)
    answer: AnswerConfig = Field(default_factory=AnswerConfig, description="How experts write answers")
    routing: RoutingConfig = Field(default_factory=RoutingConfig)
    sessions: SessionsConfig = Field(default_factory=SessionsConfig)
    telemetry: TelemetryConfig = Field(default_factory=TelemetryConfig, description="OpenTelemetry traces of turns")

    _shorthand = field_validator("defaults", "escalation", mode="before")(_model_shorthand)

    @field_validator("toolboxes")
    @classmethod
    def _toolbox_files_relative_to_guild(cls, value: list[str], info: ValidationInfo) -> list[str]:
        return [_resolve_path(item, info) if item.endswith(".py") else item for item in value]

    @field_validator("defaults")
    @classmethod
    def _defaults_complete(cls, value: ModelSpec) -> ModelSpec:
        # Experts inherit from here, so the defaults always name a backend and a model.
        value.backend = value.backend or "embedded"
        value.name = value.name or DEFAULT_MODEL
        return value

    @model_validator(mode="after")
    def _default_root_is_the_guild_folder(self, info: ValidationInfo) -> GuildConfig:
        base_dir = (info.context or {}).get("base_dir")
        if not self.knowledge.roots:
            self.knowledge.roots = [str(base_dir or Path.cwd())]
        return self

    def sources_outside_roots(self) -> list[tuple[str, int, str]]:
        """(expert, index, source) of every knowledge source outside `knowledge.roots`.

        A guild file shared with others must not make `ingest` read, say, ~/.ssh:
        symlinks are followed before the check.
        """
        roots = [Path(root).resolve() for root in self.knowledge.roots]
        return [
            (name, index, source)
            for name, expert in self.experts.items()
            for index, source in enumerate(expert.knowledge.sources)
            if not any(Path(source).resolve().is_relative_to(root) for root in roots)
        ]

    def answer_for(self, expert: str) -> AnswerConfig:
        """The answer settings of an expert (or `fallback`): its own `answer:` over the guild's."""
        own = self.fallback.answer if expert == "fallback" else self.experts[expert].answer
        return AnswerConfig.model_validate(
            {**self.answer.model_dump(exclude_unset=True), **own.model_dump(exclude_unset=True)}
        )

    def model_for(self, expert: str) -> ModelSpec:
        """The complete model spec of an expert (or `fallback`, or `escalation`), defaults filled in."""
        if expert == "fallback":
            own = self.fallback.model
        elif expert == "escalation":
            if self.escalation is None:
                raise ConfigError("this guild has no escalation model: add `escalation:` to the guild file")
            own = self.escalation
        else:
            own = self.experts[expert].model
        return own.merged_over(self.defaults)


def load_config(path: str | Path, overrides: dict[str, Any] | None = None) -> GuildConfig:
    """Read and validate a guild file; raise `ConfigError` with file:line on any problem.

    `overrides` are merged into the file's mappings before validation (the same guild
    with an escalation model, say): a mapping merges key by key, any other value replaces.
    """
    path = Path(path)
    data = read_yaml(path, ConfigError, "guild file (pass --guild PATH)")
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a guild file is a mapping with at least `name` and `experts`")
    _merge(data, overrides or {})
    config = validate_yaml(GuildConfig, data, path, ConfigError, {"base_dir": path.parent.resolve()})
    if outside := config.sources_outside_roots():
        raise ConfigError(
            "\n".join(
                f"{path}:{line_of(data, ['experts', name, 'knowledge', 'sources', index])}: "
                f"experts.{name}.knowledge.sources.{index}: {source} is outside the knowledge "
                "roots; move it under them or add its folder to knowledge.roots"
                for name, index, source in outside
            )
        )
    return config


def _merge(data: dict[str, Any], overrides: dict[str, Any]) -> None:
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            _merge(data[key], value)
        else:
            data[key] = value


def edit_config(path: str | Path, change: Callable[[Any], None]) -> GuildConfig:
    """Apply `change` to a guild file's YAML document, keeping its comments and layout.

    The file is replaced only if the changed document still validates, and atomically,
    so that a crash or a bad change never leaves a broken guild file behind.
    """
    path = Path(path)
    yaml = YAML(typ="rt")
    # Round-trip without reflowing: long lines stay long, lists keep their indentation.
    yaml.width = 1 << 16
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.preserve_quotes = True
    document = yaml.load(path.read_text(encoding="utf-8"))
    change(document)
    draft = path.with_name(f".{path.name}.new")
    with draft.open("w", encoding="utf-8") as stream:
        yaml.dump(document, stream)
    try:
        config = load_config(draft)
    except ConfigError as exc:
        draft.unlink()
        raise ConfigError(f"{path}: the change would not validate: {exc}") from None
    draft.replace(path)
    return config
