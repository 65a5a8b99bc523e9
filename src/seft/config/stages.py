"""The configs of the pipeline's own stages: evolution, the whole run, baselines and comparison.
Defaults are the embedded default run (the offline testbed)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .common import DATA_FORMATS, FORMATS_HELP, AuditConfig, GenerationConfig, JudgeConfig, TrackingConfig, TrainConfig
from .core import field
from .report import HtmlReportConfig
from .reviser import ReviseConfig, ReviserDataConfig, ReviserTrainConfig
from .testbed import TestbedConfig

__all__ = ["BaselineConfig", "CalibrationConfig", "CompareConfig", "EvolveConfig", "PhaseConfig", "RunConfig"]


# ----------------------------------------------------------------------------- evolution
@dataclass
class PhaseConfig:
    name: str = field("internal", help="Name used in artifact paths and the report.")
    source: str = field("internal", choices=("internal", "external"), help="internal: drafts sampled from the current policy; external: drafts from the external response file.")
    rounds: int = field(1, min=0, help="Rounds in this phase.")
    keep_levels: list[str] = field(default_factory=lambda: ["KEEP", "MINOR", "MAJOR"], help="Which revision levels enter the SFT set (KEEP = the draft was judged good as it is).")
    learning_rate: float | None = field(None, min=0.0, help="This phase's policy SFT learning rate, in place of evolve.train.learning_rate (lr_decay_per_round still applies); null: evolve.train.learning_rate.")
    keep_margin: float | None = field(None, min=0.0, help="This phase's likelihood-decision margin (nats), in place of revise.keep_margin; null: revise.keep_margin. A stronger writer's drafts are less likely under the reviser than the policy's own, so external phases need a wider margin.")


@dataclass
class EvolveConfig:
    policy: str | None = field(None, help="Starting policy: hub id or local folder (default in `seft run`: the testbed's base policy).")
    reviser: str | None = field(None, help="Trained reviser folder (default in `seft run`: RUN/reviser/model).")
    prompts: str | None = field(None, help="Unannotated prompts: a file, a save_to_disk folder or a hub name (split train), or 'testbed:DIR' for the testbed's unlimited stream (default in `seft run`).")
    prompts_format: str = field("seft", choices=DATA_FORMATS, help="Row shape of `prompts`: " + FORMATS_HELP + ". Any shape serves: a preference set gives its prompts. A known answer (Alpaca's output, ShareGPT's last gpt turn, a pair's chosen) is kept in meta.reference and never trained on.")
    external: str | None = field(None, help="External responses (prompt + response) for external phases (default in `seft run`: the testbed's external.jsonl).")
    external_format: str = field("seft", choices=DATA_FORMATS, help="Row shape of `external`: " + FORMATS_HELP + ". The response is the row's answer: Alpaca's output, ShareGPT's last gpt turn, a pair's chosen, a scored list's best-scored (or rank-1) response.")
    eval_sets: dict[str, str] = field(default_factory=dict, help="Held-out sets to score after each round, name -> file (default in `seft run`: the testbed's eval and eval_ood).")
    eval_format: str = field("seft", choices=DATA_FORMATS, help="Row shape of every file in `eval_sets`: " + FORMATS_HELP + ". A known answer is kept in meta.reference for judges that compare against one.")
    out: str | None = field(None, help="Folder for rounds/ (default in `seft run`: the run directory).")
    phases: list[PhaseConfig] = field(default_factory=lambda: [PhaseConfig("internal", "internal", 3), PhaseConfig("external", "external", 1, keep_margin=8.0, learning_rate=3e-4)], help="The schedule: phases run in order, each for its rounds. The default external phase's margin (8) and learning rate (3e-4) were chosen on the testbed's dev set (benchmarks/keep_margin.py; the round-4 SFT at 1e-3 left dev at 0.385, at 3e-4 it reached 0.410).")
    prompts_per_round: int = field(2048, min=1, help="Fresh prompts drawn per round (never reused unless reuse_prompts).")
    samples_per_prompt: int = field(1, min=1, help="Policy drafts sampled per prompt (internal phases).")
    reuse_prompts: bool = field(False, help="Start every round at the beginning of the prompt source instead of taking fresh prompts.")
    accumulate: bool = field(False, help="Train each round on the union of all rounds' selected data so far, not just this round's.")
    min_chars: int = field(1, min=0, help="Length guard: drop final responses shorter than this.")
    max_chars: int = field(2000, min=1, help="Length guard: drop final responses longer than this.")
    dedup: bool = field(True, help="Drop duplicate (prompt, response) pairs from a round's SFT set.")
    include_fallbacks: bool = field(False, help="Also train on drafts whose revision failed to parse (the reviser never approved them).")
    shard_size: int = field(256, min=1, help="Drafts/revisions are generated and saved in shards of this many records, the unit a killed run resumes from.")
    lr_decay_per_round: float = field(1.0, min=0.0, max=1.0, help="Multiply the learning rate by this after every round.")
    draft: GenerationConfig = field(default_factory=GenerationConfig, help="Sampling of policy drafts.")
    revise: ReviseConfig = field(default_factory=ReviseConfig, help="Revision settings (reviser/input/out are filled per round).")
    train: TrainConfig = field(default_factory=lambda: TrainConfig(epochs=3.0, learning_rate=1e-3), help="Policy SFT settings per round (continues from the previous round's weights).")
    final_only_sets: list[str] = field(default_factory=list, help="Names in `eval_sets` scored only for the base policy, the final round and the baselines, not after every round: a large or slow benchmark (IFBench in configs/smollm2-if.yaml) measured at both ends of the run. The report shows a dash for the rounds in between.")
    eval_max_new_tokens: int = field(48, min=1, help="Completion budget when scoring held-out sets (greedy).")
    judge: JudgeConfig = field(default_factory=JudgeConfig, help="Judge of the per-round held-out evaluation (and of `seft compare`'s win rates): the testbed's verifiable scorer by default; a reward model or an API judge for real data.")
    audit: AuditConfig = field(default_factory=AuditConfig, help="The revision audit of every round, with `judge` (on the testbed it sees each training prompt's reference; the reviser and the policy never do).")


@dataclass
class CalibrationConfig:
    """`seft run`: the likelihood decision's margins chosen for the run's own reviser, on dev."""
    enabled: bool = field(True, help="After the reviser is trained, choose each phase's likelihood margin on the world's dev prompts (which no table reports): the reviser revises the starting policy's samples of them (internal phases) and the world's external answers (external phases), the judge scores every text, and each phase gets the smallest of `margins` that keeps at least `preservation` of the perfect dev drafts. The choice and every margin's audit go to RUN/reviser/calibration.json and report.md. A margin means more or less depending on how sure the reviser is of its answers: on the testbed margin 1 kept 98% of the perfect dev drafts with seed 0's reviser and 89% with seed 1's. On a world (testbed, if) its dev set serves; on your own data, `dev`. A phase with the decision off keeps it off. false: the configured margins.")
    margins: list[float] = field(default_factory=lambda: [0.5, 1.0, 2.0, 4.0, 8.0, 16.0], help="Candidate margins (nats), tried from the smallest.")
    preservation: float = field(0.95, min=0.0, max=1.0, help="Share of the perfect dev drafts the chosen margin must keep (the audit's bar is 90%; 95% leaves room, a dev set holds few perfect drafts). When no candidate reaches it, the largest.")
    n: int = field(512, min=1, help="Dev prompts used (at most the dev set's size).")
    dev: str | None = field(None, help="Your own dev prompts (read with evolve.eval_format, carrying what the judge needs, e.g. a reference), never a set a table reports: the internal phases' margins are then chosen on the starting policy's samples of them, and external phases keep their configured margin (there are no external answers to dev prompts). null: the world's dev set, when the run has a world.")

    def __post_init__(self):
        if not self.margins or any(m < 0 for m in self.margins):
            raise ValueError(f"calibration.margins: expected non-negative margins, got {self.margins}")


@dataclass
class RunConfig:
    """The whole pipeline. Paths left empty are filled from the testbed and the run directory."""
    out: str = field("runs/demo", help="Run directory: every artifact, the resolved config and the state file go here.")
    force: bool = field(False, help="Start the run directory over even if it holds a run with another config.")
    launcher: str | None = field(None, help="The `launcher` of every training section that sets none (reviser_train.train, evolve.train, baseline_train): e.g. 'accelerate launch --config_file configs/accelerate/deepspeed_zero3.yaml' trains on every GPU in launched processes while this one generates, evaluates and writes the run (README: Running on GPUs). null: train in this process.")
    tracking: TrackingConfig = field(default_factory=TrackingConfig, help="Experiment tracking of the whole run as one tracked run: every training call (reviser, each round, each baseline) logs its loss and learning rate as <stage>/train/..., and every round its scores, revision levels and audit as seft/... with the round as the step. E.g. --set tracking.backend=tensorboard, then `tensorboard --logdir RUN/tracking`.")
    html: HtmlReportConfig = field(default_factory=HtmlReportConfig, help="What RUN/report.html shows (written with report.md; `seft report RUN` rebuilds it).")
    testbed: TestbedConfig = field(default_factory=TestbedConfig, help="The offline testbed the default run uses.")
    reviser_data: ReviserDataConfig = field(default_factory=ReviserDataConfig, help="Reviser training data.")
    reviser_train: ReviserTrainConfig = field(default_factory=ReviserTrainConfig, help="Reviser training.")
    evolve: EvolveConfig = field(default_factory=EvolveConfig, help="Policy self-evolution rounds.")
    calibration: CalibrationConfig = field(default_factory=CalibrationConfig, help="The likelihood decision's margins, chosen on dev for the run's reviser.")
    with_baselines: bool = field(False, help="After evolution, also train the `baselines` from the same base policy on the reviser's preference data (RUN/baselines/<method>/), evaluate them on the same sets (RUN/eval/<method>/) and add them to eval/summary.json under their method names, for `seft compare`.")
    baselines: list[str] = field(default_factory=lambda: ["sft", "dpo", "orpo", "no_drafts"], help="Baseline methods run when with_baselines is true: any of sft, dpo, orpo (trained from the base policy on the preference data), sft+dpo (DPO started from the sft baseline, the standard recipe; needs sft listed before it) and no_drafts (the 'SEFT without drafts' ablation: the same SEFT run with a reviser that never sees the draft, in RUN/baselines/no_drafts/).")
    baseline_train: TrainConfig = field(default_factory=lambda: TrainConfig(epochs=3.0, learning_rate=1e-3), help="Training settings of every baseline (used only when with_baselines is true).")
    baseline_learning_rates: dict[str, float] = field(default_factory=dict, help="Per-method learning rate, e.g. {dpo: 3e-4}, in place of baseline_train.learning_rate (a sweep fills this in for the seeds after the first).")
    baseline_lr_sweep: list[float] = field(default_factory=list, help="Learning rates tried for every baseline: each method keeps the one that scores best on `sweep_set` (a development set, never a reported one) and that model becomes its row. Results in RUN/sweep/sweep.json. With several seeds the sweep runs once, in the first seed's run, and the other seeds reuse its choice. Empty: no sweep.")
    baseline_beta_sweep: list[float] = field(default_factory=list, help="Betas tried for dpo, orpo and sft+dpo, crossed with the learning rates (and pair modes) of the sweep; empty: baseline beta only.")
    baseline_pair_mode_sweep: list[str] = field(default_factory=list, help="Pairings tried for dpo, orpo and sft+dpo (best_vs_worst, best_vs_each), crossed with the rest of the sweep; empty: best_vs_worst only.")
    baseline_choices: dict[str, dict[str, Any]] = field(default_factory=dict, help="Per-method settings chosen by a sweep, e.g. {dpo: {learning_rate: 1e-3, beta: 0.5, pair_mode: best_vs_worst}}; they win over baseline_learning_rates. The first seed's sweep fills this in for the seeds after it.")
    sweep_set: str | None = field(None, help="Prompts with references on which the baseline sweep chooses (default: the testbed's dev.jsonl). Read with evolve.eval_format.")
    scaling: list[int] = field(default_factory=list, help="Data-scaling curve: for each value, one more SEFT run of the internal phases only with that many prompts per round, from the same reviser (RUN/scaling/ppr_<n>/). The main run's internal-only result is the curve's point at evolve.prompts_per_round. E.g. [512, 1024] with the default 2048 gives 1x, 2x and 4x.")
    seeds: int = field(1, min=1, help="Repeat the whole run over this many seeds (also `seft run --seeds N`): run k, in OUT/seed_<k>/, adds k to every seed of the config (data order, sampling, training; the testbed and its base policy stay fixed), then `seft compare` over all of them writes OUT/compare/ with means and t-intervals across seeds. 1: one run, directly in OUT.")

    def __post_init__(self):
        if (self.baseline_lr_sweep or self.baseline_beta_sweep or self.baseline_pair_mode_sweep) and not self.with_baselines:
            raise ValueError("baseline_lr_sweep is set but with_baselines is false: there is nothing to sweep")
        if any(b <= 0 for b in self.baseline_beta_sweep) or len(set(self.baseline_beta_sweep)) != len(self.baseline_beta_sweep):
            raise ValueError(f"baseline_beta_sweep: expected distinct positive betas, got {self.baseline_beta_sweep}")
        bad = [m for m in self.baseline_pair_mode_sweep if m not in ("best_vs_worst", "best_vs_each")]
        if bad or len(set(self.baseline_pair_mode_sweep)) != len(self.baseline_pair_mode_sweep):
            raise ValueError(f"baseline_pair_mode_sweep: expected distinct best_vs_worst / best_vs_each, got {self.baseline_pair_mode_sweep}")
        if any(lr <= 0 for lr in self.baseline_lr_sweep) or len(set(self.baseline_lr_sweep)) != len(self.baseline_lr_sweep):
            raise ValueError(f"baseline_lr_sweep: expected distinct positive learning rates, got {self.baseline_lr_sweep}")
        if any(n < 1 for n in self.scaling) or len(set(self.scaling)) != len(self.scaling):
            raise ValueError(f"scaling: expected distinct positive prompts-per-round values, got {self.scaling}")
        if self.evolve.prompts_per_round in self.scaling:
            raise ValueError(f"scaling: {self.evolve.prompts_per_round} is the main run's prompts_per_round, "
                             "already a point of the curve")


# ----------------------------------------------------------------------------- baselines
@dataclass
class BaselineConfig:
    """A baseline trained from the same base policy on the same annotated preference data the
    reviser saw: SFT on the best responses, or DPO / ORPO on (best, worse) pairs."""
    method: str = field("dpo", choices=("sft", "dpo", "orpo"), help="sft: fine-tune on each prompt's best response; dpo / orpo: preference-optimise on pairs built from the same data.")
    preferences: str | None = field(None, help="Preference data (scored lists or pairs): a file, a save_to_disk folder or a hub name; use the reviser's, so the comparison is fair.")
    format: str = field("seft", help="Row shape of `preferences`: seft, ultrafeedback, ultrafeedback_binarized, nectar or hh_rlhf.")
    on_bad_record: str = field("error", choices=("error", "skip"), help="Stop at the first bad record, or skip bad records and report how many.")
    base_model: str | None = field(None, help="Model every method starts from: hub id or local folder (the base policy SEFT evolves).")
    out: str | None = field(None, help="Output folder: the trained model (or LoRA adapter), train_metrics.json, cost.json and the training data (baseline_data.jsonl).")
    train: TrainConfig = field(default_factory=lambda: TrainConfig(epochs=3.0, learning_rate=1e-3), help="Training settings (those of SEFT's policy rounds by default). DPO/ORPO full fine-tunes usually want a lower learning rate than SFT.")
    beta: float = field(0.1, min=0.0, help="dpo: KL strength beta (higher keeps the policy closer to the base); orpo: weight lambda of the odds-ratio term next to the NLL; unused by sft.")
    pair_mode: str = field("best_vs_worst", choices=("best_vs_worst", "best_vs_each"), help="Pairs from a scored list: the best response against the worst one (one pair per prompt), or against every distinct worse one. A record that is already a pair gives that pair.")
    min_gap: float = field(0.0, min=0.0, max=1.0, help="A rejected response must trail the best by more than this normalised gap (the reviser's gap: score difference over the scale, or rank difference over K-1); ties never pair. Empty responses always count as worse.")
    missing_score: str = field("skip", choices=("skip", "error"), help="A response with neither a score nor a rank: skip it (counted) or fail; as for the reviser's data.")
    pair_scale: tuple[float, float] | None = field(None, help="Score scale [min, max] of pairs' chosen_score/rejected_score, used for min_gap on pair records; null: the range observed over the input (as for the reviser).")

    def __post_init__(self):
        if self.pair_scale is not None and not self.pair_scale[0] < self.pair_scale[1]:
            raise ValueError(f"pair_scale must be [min, max] with min < max, got {list(self.pair_scale)}")


# ----------------------------------------------------------------------------- comparison
@dataclass
class CompareConfig:
    """SEFT against the base policy and the baselines, over one or more finished run directories."""
    runs: list[str] = field(default_factory=list, help="Run directories made by `seft run` (several, e.g. one per seed: every row then reports the mean over runs and a t-interval across runs).")
    out: str | None = field(None, help="Output folder for compare.md, compare.csv and compare.png (default: RUN/compare for a single run; required for several).")
    main_set: str | None = field(None, help="Eval set drawn in compare.png (default: the first set of the first run's summary).")
    rounds: bool = field(False, help="Also give every SEFT round its own row, not only the internal-only, internal+external and final rows.")
    seed: int = field(0, help="Seed of the bootstrap intervals over prompts (win rates).")
