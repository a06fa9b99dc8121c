"""Upstream API surfaces the launcher relies on, as data, plus a checker that takes a module object.

Each :class:`Surface` names one class (or object) in an upstream module and what we need of it:
methods with their leading parameter names, dataclass / pydantic fields, or mapping keys. The
checker never imports anything itself: the caller passes the module (the real one in
``tests/contracts``, a fake ``types.SimpleNamespace`` / ``types.ModuleType`` in the meta tests), so
drift is reported as ``upstream surface `transformers.Trainer.compute_loss`: ...`` before a GPU hour
is spent. The ms-swift argument fields have their own snapshot (``src/config/swift_fields.json``,
``tests/config/test_swift_fields_contract.py``).
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Method:
    name: str
    params: tuple[str, ...]  # expected parameter names, in order (``self`` included for methods)
    why: str = ""


@dataclass(frozen=True)
class Surface:
    module: str  # dotted module the caller resolves (e.g. "transformers")
    attr: str  # attribute path inside it (e.g. "Trainer", "TrainerFactory.TRAINER_MAPPING")
    methods: tuple[Method, ...] = ()
    fields: tuple[str, ...] = ()  # dataclass / pydantic fields (or __init__ parameters)
    keys: tuple[str, ...] = ()  # keys the object (a mapping) must contain
    kind: str | None = None  # "mapping" | "class" when the object's type matters
    why: str = ""

    @property
    def name(self) -> str:
        return f"{self.module}.{self.attr}"


class SurfaceDriftError(AssertionError):
    """An upstream surface changed incompatibly (an AssertionError so pytest shows it plainly)."""


SURFACES: tuple[Surface, ...] = (
    Surface("transformers", "Trainer", why="telemetry mixin, callbacks and ms-swift's optimizer wiring", methods=(
        Method("compute_loss", ("self", "model", "inputs", "return_outputs", "num_items_in_batch"),
               "TelemetryMixin / GKDMonitorTrainer override it and call super() with these keywords"),
        Method("log", ("self", "logs"), "TelemetryMixin.log adds the reduced sums, then super().log(logs, ...)"),
        Method("training_step", ("self", "model", "inputs", "num_items_in_batch"),
               "ms-swift and the stage2_ab trainer drive steps through it"),
        Method("add_callback", ("self", "callback"), "LauncherPipeline.train installs our callbacks"),
        Method("create_optimizer", ("self",), "vit_lr / aligner_lr parameter groups (ms-swift override)"),
        Method("get_decay_parameter_names", ("self", "model"), "weight-decay split of the optimizer groups"),
        Method("_save_checkpoint", ("self", "model", "trial"),
               "every save strategy writes through it; save_schedule wraps it (save_delay_steps, save_last_epoch)"),
        Method("get_optimizer_cls_and_kwargs", ("args", "model"),
               "src/boundary's optimizer pre-flight builds the optimizer as the Trainer does"),
        Method("get_batch_samples", ("self", "epoch_iterator", "num_batches", "device"),
               "Stage2ABMixin switches channels there: it rebuilds the step's batches, then recounts"),
        Method("_get_num_items_in_batch", ("self", "batch_samples", "device"),
               "Stage2ABMixin recounts the loss tokens of the rebuilt batches with it"),
    )),
    Surface("swift.template", "Template", why="stage-2 rollouts, Channel-B targets and detection eval encode "
            "through the run's template; inference copies drop padding-free / packing / sequence parallel",
            fields=("padding_free", "sequence_parallel_size", "template_meta", "max_pixels"), methods=(
        Method("__getstate__", ("self",), "copy(template) drops the model and hook handles (hf_backend)"),
        Method("generate_context", ("self",), "inference-mode encoding of rollout prompts"),
        Method("encode", ("self", "inputs", "return_template_inputs", "return_length")),
        Method("data_collator", ("self", "batch", "padding_to"), "Channel-B batches are collated by it"),)),
    Surface("swift.rlhf_trainers.vllm_client", "VLLMClient", why="stage-2 weight sync to rollout servers", methods=(
        Method("init_communicator", ("self", "device")),
        Method("close_communicator", ("self",)),
        Method("update_flattened_params", ("self", "metadatas", "flattened_tensor")),
        Method("process_weights_after_loading", ("self",)),
        Method("reset_prefix_cache", ("self",)),)),
    Surface("swift.rlhf_trainers.utils", "FlattenedTensorBucket", why="weight sync packs parameters as GRPO does",
            methods=(Method("get_metadata", ("self",)), Method("get_flattened_tensor", ("self",)))),
    Surface("transformers", "TrainerCallback", kind="class", methods=(
        Method("on_train_begin", ("self", "args", "state", "control")),
        Method("on_epoch_begin", ("self", "args", "state", "control")),
        Method("on_step_end", ("self", "args", "state", "control")),
        Method("on_save", ("self", "args", "state", "control")),
        Method("on_train_end", ("self", "args", "state", "control")),
    ), why="FusionScheduleCallback and the provenance manifest callback"),
    Surface("swift.pipelines.train.sft", "SwiftSft", why="LauncherPipeline overrides these", methods=(
        Method("__init__", ("self", "args")),
        Method("_prepare_dataset", ("self",), "our fusion datasets replace ms-swift's --dataset loading"),
        Method("_prepare_template", ("self",), "the template-fingerprint guard runs right after it"),
        Method("train", ("self", "trainer"), "our callbacks are added, then super().train(trainer)"),
        Method("run", ("self",), "builds the trainer our train() override receives"),
    )),
    Surface("swift.pipelines.train.rlhf", "SwiftRLHF", methods=(
        Method("run", ("self",)),
        Method("_prepare_template", ("self",), "sets the RLHF template mode; RLHFPipeline's guard runs after it"),
    )),
    Surface("swift.trainers", "TrainerFactory.TRAINER_MAPPING", kind="mapping", keys=("causal_lm", "gkd", "grpo"),
            why="ms-swift picks the trainer our trainer_extensions install variants on"),
    Surface("swift.rlhf_trainers", "GKDTrainer", why="GKDMonitorTrainer / GKD telemetry override these", methods=(
        Method("compute_loss", ("self", "model", "inputs", "return_outputs", "num_items_in_batch")),
        Method("_compute_jsd_loss", ("self", "student_logits", "teacher_output", "labels")),
        Method("_encode_samples", ("self", "samples"), "GKD telemetry reads each sample's dataset_name there"),
    )),
    # Telemetry in the loss pass (src/trainers/telemetry/token_loss.py, src/trainers/gkd_telemetry.py).
    # PreTrainedModel.loss_function (a property with a setter; the model's forward calls it): checked by
    # tests/contracts/test_upstream_surfaces.py::test_model_loss_hook_is_settable.
    Surface("transformers.loss.loss_utils", "ForCausalLMLoss",
            fields=("logits", "labels", "vocab_size", "num_items_in_batch", "ignore_index", "shift_labels"),
            why="TokenLossTap reproduces it bit for bit (tests/trainers/test_telemetry_token_loss.py)"),
    Surface("swift.trainers", "Seq2SeqTrainer", why="TelemetryMixin overrides _compute_acc", methods=(
        Method("_compute_acc", ("self", "outputs", "labels", "cu_seqlens"),
               "takes logits.argmax(dim=-1) for token_acc; telemetry hands it the argmax it took once"),
        Method("compute_loss", ("self", "model", "inputs", "return_outputs", "num_items_in_batch"),
               "returns outputs whose .loss is the per-token vector on its loss_scale / DFT path"),
    )),
    Surface("swift.rlhf_trainers.gkd_loss", "gkd_loss", why="GKD telemetry records its per-position KL terms",
            fields=("student_logits", "teacher_output", "labels", "beta", "temperature", "gather_fn",
                    "log_softmax_fn", "kl_div_fn")),
    # src/trainers/grpo_health.py: rollout health counted where GRPO logs its rollouts
    Surface("swift.rlhf_trainers", "GRPOTrainer", why="RolloutHealthMixin overrides these", methods=(
        Method("_log_rollout", ("self", "samples"), "called once per generation with the rank's scored samples "
               "(tests/contracts/test_trainer_class_seam.py pins the call); counts their health, then super()"),
        Method("log", ("self", "logs", "start_time"), "adds the window's rollout/* rates, then super().log"),
    )),
    Surface("swift.rl_core.data", "OnPolicySample", fields=("messages", "extra", "response_token_ids", "finish_reason"),
            why="rollout health reads the completion (messages[-1]), its token ids, why generation stopped "
            "('length': the budget) and the row's ground-truth columns (extra)"),
    Surface("swift.rewards", "orms", kind="mapping", why="register_rewards() writes our reward classes into it"),
    Surface("swift.rewards", "ORM", kind="class", methods=(Method("__call__", ("self",)),)),
    # src/boundary/arguments.py: the guarded construction of ms-swift arguments and its pre-flight checks
    Surface("swift", "RLHFArguments", why="validate --deep builds it offline", methods=(
        Method("_init_external_vllm", ("self",), "_OfflineRLHFArguments overrides it (no vLLM server connection)"),
    )),
    Surface("swift.arguments.base_args.base_args", "get_supported_tuners", why="the tuner check ms-swift's "
            "prepare_adapter makes after the model loads, made before"),
    Surface("transformers", "TrainingArguments", why="scheduler pre-flight", methods=(
        Method("get_warmup_steps", ("self", "num_training_steps")),
    )),
    Surface("transformers.optimization", "get_scheduler", why="scheduler pre-flight"),
    Surface("swift.infer_engine.protocol", "RequestConfig", why="stage-2 rollout request (src/rollout/server/contract.py)",
            fields=("max_tokens", "temperature", "top_k", "top_p", "min_p", "repetition_penalty", "n", "seed",
                    "stream", "return_details")),
    Surface("swift.infer_engine.protocol", "RolloutInferRequest", fields=("messages", "images"),
            why="one rollout request per sample: Qwen3-VL messages + base64 images"),
    Surface("swift.infer_engine.protocol", "RolloutOutput", fields=("response", "response_token_ids"),
            why="POST /infer/ reply items"),
    Surface("swift.infer_engine.protocol", "ChatCompletionResponse", fields=("model", "choices", "usage", "id",
                                                                               "prompt_token_ids"),
            why="return_details=True carries prompt_token_ids"),
    # src/eval (python -m src.eval): engines built as `swift infer` builds them
    Surface("swift.arguments", "InferArguments", why="src/eval/generate.py builds the engine from it",
            fields=("model", "adapters", "infer_backend", "max_batch_size", "max_new_tokens", "temperature",
                    "load_args", "max_pixels", "template", "torch_dtype")),
    Surface("swift.pipelines", "utils", why="model + template (+ LoRA adapter) for TransformersEngine", methods=(
        Method("prepare_model_template", ("args",)),)),
    Surface("swift.pipelines.infer.infer", "SwiftInfer", why="VllmEngine built as `swift infer` does", methods=(
        Method("get_infer_engine", ("args", "template")),)),
    Surface("swift.infer_engine", "TransformersEngine", why="src.eval generation", methods=(
        Method("__init__", ("self", "model", "template", "adapters", "adapter_names", "max_batch_size")),
        Method("infer", ("self", "infer_requests", "request_config", "metrics", "use_tqdm")),)),
    Surface("transformers", "PreTrainedModel", why="src/eval/generate.py::ChosenTokenLogprobs hooks the modules "
            "they return: each step's logits, and the next step's input ids (the tokens chosen)", methods=(
        Method("get_input_embeddings", ("self",)),
        Method("get_output_embeddings", ("self",)),)),
    Surface("swift.infer_engine", "InferRequest", fields=("messages", "images"),
            why="one src.eval request: the training prompt without its assistant turn"),
    Surface("swift.infer_engine", "RequestConfig", fields=("max_tokens", "temperature", "logprobs", "top_logprobs",
                                                           "return_details"),
            why="greedy decoding; per-token log-probabilities from vLLM, or recorded on the returned token ids"),
    Surface("swift.infer_engine.protocol", "ChatCompletionResponseChoice",
            fields=("index", "message", "finish_reason", "logprobs", "token_ids"),
            why="src.eval reads message.content, finish_reason, token_ids (return_details) and "
            "logprobs['content'][k]['token'|'logprob']"),
    Surface("swift.utils", "unwrap_model_for_generation", fields=("model", "accelerator"),
            why="the hf rollout backend (stage-2 and custom.detection_eval) generates on the unwrapped model"),
    Surface("swift.utils", "get_logger", fields=("log_file", "log_level", "file_mode"),
            why="src/trainers/console.py sets the console handlers of ms-swift's one logger it returns"),
)

# Log messages src/trainers/console.py matches (module, the message's source text, why): kept on the console,
# or filtered as known-harmless. Checked against the installed sources by tests/contracts.
LOG_MESSAGES: tuple[tuple[str, str, str], ...] = (
    ("swift.pipelines.train.sft", "f'model_parameter_info: {model_parameter_info}'", "console: the model's size"),
    ("swift.pipelines.train.sft", "f'last_model_checkpoint: {state.last_model_checkpoint}'", "console: the end"),
    ("swift.trainers.mixin", "f'Saving model checkpoint to {self.state.last_model_checkpoint}'",
     "console: each checkpoint"),
    ("swift.model.model_meta", "f'Please install the package: `pip install {requires} -U`.'", "filtered for decord"),
    ("transformers.modeling_utils", '"`torch_dtype` is deprecated! Use `dtype` instead!"', "filtered"),
    ("transformers.trainer", 'f"There were missing keys in the checkpoint model loaded: {load_result.missing_keys}."',
     "replaced by one line when the model ties lm_head to the embeddings"),
)


def resolve_attr(module: Any, attr: str) -> Any:
    obj = module
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


def _field_names(obj: Any) -> list[str] | None:
    if dataclasses.is_dataclass(obj):
        return [f.name for f in dataclasses.fields(obj)]
    model_fields = getattr(obj, "model_fields", None)
    if isinstance(model_fields, Mapping):
        return list(model_fields)
    try:
        return [p for p in inspect.signature(obj).parameters if p not in ("self", "args", "kwargs")]
    except (TypeError, ValueError):
        return None


def _check_method(surface: Surface, obj: Any, method: Method) -> list[str]:
    where = f"upstream surface `{surface.name}.{method.name}`"
    fn = inspect.getattr_static(obj, method.name, None) if inspect.isclass(obj) else getattr(obj, method.name, None)
    if fn is None:
        return [f"{where}: missing (we rely on it: {method.why or surface.why})"]
    fn = getattr(fn, "__func__", fn)
    if not callable(fn):
        return [f"{where}: is not callable ({type(fn).__name__})"]
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return []
    names = [p.name for p in params.values() if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    problems = []
    missing = [p for p in method.params if p not in names]
    if missing:
        problems.append(f"{where}: parameter(s) {missing} missing; expected ({', '.join(method.params)}), "
                        f"upstream has ({', '.join(names)})")
    elif [n for n in names if n in method.params] != list(method.params):
        problems.append(f"{where}: parameter order changed; expected ({', '.join(method.params)}), "
                        f"upstream has ({', '.join(names)})")
    new_required = [p.name for p in params.values() if p.name not in method.params
                    and p.default is p.empty and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    if new_required:
        problems.append(f"{where}: new required parameter(s) {new_required}; our callers do not pass them")
    return problems


def check_surface(surface: Surface, module: Any) -> list[str]:
    """Problems (empty when compatible) of ``surface`` in ``module`` (a module object or a fake)."""
    try:
        obj = resolve_attr(module, surface.attr)
    except AttributeError:
        return [f"upstream surface `{surface.name}`: missing from {getattr(module, '__name__', surface.module)}"
                + (f" (we rely on it: {surface.why})" if surface.why else "")]
    problems: list[str] = []
    if surface.kind == "mapping" and not isinstance(obj, Mapping):
        problems.append(f"upstream surface `{surface.name}`: expected a mapping, got {type(obj).__name__}")
    if surface.kind == "class" and not inspect.isclass(obj):
        problems.append(f"upstream surface `{surface.name}`: expected a class, got {type(obj).__name__}")
    if surface.keys and isinstance(obj, Mapping):
        missing = [k for k in surface.keys if k not in obj]
        if missing:
            problems.append(f"upstream surface `{surface.name}`: key(s) {missing} missing; has {sorted(obj)}")
    if surface.fields:
        names = _field_names(obj)
        missing = [f for f in surface.fields if names is None or f not in names]
        if missing:
            problems.append(f"upstream surface `{surface.name}`: field(s) {missing} missing; "
                            f"has {names if names is not None else 'no inspectable fields'}")
    for method in surface.methods:
        problems.extend(_check_method(surface, obj, method))
    return problems


def assert_surfaces(surfaces: tuple[Surface, ...], modules: Mapping[str, Any]) -> None:
    """Raise :class:`SurfaceDriftError` listing every incompatible surface (modules: name -> module)."""
    problems = [p for s in surfaces for p in check_surface(s, modules[s.module])]
    if problems:
        raise SurfaceDriftError("upstream API drift (pinned stack: see pyproject.toml):\n  - "
                                + "\n  - ".join(problems))


def surfaces_of(module: str) -> tuple[Surface, ...]:
    return tuple(s for s in SURFACES if s.module == module)


__all__ = [
    "SURFACES",
    "Method",
    "Surface",
    "SurfaceDriftError",
    "assert_surfaces",
    "check_surface",
    "resolve_attr",
    "surfaces_of",
]
