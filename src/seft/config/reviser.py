"""Configs of the reviser: its training data, its training, and revision (`seft revise`)."""
from __future__ import annotations

from dataclasses import dataclass

from .common import DATA_FORMATS, FORMATS_HELP, AuditConfig, GenerationConfig, JudgeConfig, TrainConfig
from .core import field

__all__ = ["DEFAULT_TAGS", "DEFAULT_TEMPLATE", "LEVELS", "ReviseCommandConfig", "ReviseConfig", "ReviserDataConfig", "ReviserTrainConfig"]

LEVELS = ("KEEP", "MINOR", "MAJOR")
DEFAULT_TAGS = {"KEEP": "[KEEP]", "MINOR": "[MINOR]", "MAJOR": "[MAJOR]"}
# The draft comes first so that the instruction ends the user turn, exactly where the policy saw it
# during its own training: a small reviser then keeps more of the skills it already has (on the
# testbed an instruction-first layout scored lower; see the issue notes for the measurements).
DEFAULT_TEMPLATE = "Draft: {draft}\n{instruction}"


@dataclass
class ReviserDataConfig:
    preferences: str | None = field(None, help="Preference data (scored lists or pairs): a file, a save_to_disk folder or a hub name. Default in `seft run`: the testbed's preferences.jsonl.")
    format: str = field("seft", help="Row shape of `preferences`: seft, ultrafeedback, ultrafeedback_binarized, nectar or hh_rlhf.")
    on_bad_record: str = field("error", choices=("error", "skip"), help="Stop at the first bad record, or skip bad records and report how many.")
    out: str | None = field(None, help="Output JSONL of reviser training examples (default in `seft run`: RUN/reviser/data.jsonl).")
    keep_gap: float = field(0.05, min=0.0, max=1.0, help="A response whose normalised gap to the best is at most this is KEEP (the draft stands).")
    major_gap: float = field(0.4, min=0.0, max=1.0, help="Gaps above this are MAJOR; between keep_gap and this, MINOR.")
    pair_level: str = field("MAJOR", choices=("MINOR", "MAJOR"), help="Level of a rejected response in a pair that has no scores.")
    pair_scale: tuple[float, float] | None = field(None, help="Score scale [min, max] of pairs' chosen_score/rejected_score (pairs carry none): the rejected's level comes from the margin over it. null: the range observed over all pair scores in the input (e.g. [1, 10] for UltraFeedback-binarized).")
    missing_score: str = field("skip", choices=("skip", "error"), help="What to do with a response that has neither a score nor a rank: skip it (counted) or fail.")
    max_keep_share: float = field(0.3, min=0.0, max=1.0, help="Cap on the share of KEEP examples, so the reviser still learns to revise (extra KEEPs are dropped, seeded).")
    tags: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_TAGS), help="Tag line the reviser emits for each level.")
    seed: int = field(0, help="Seed for the KEEP cap's sampling.")
    template: str = field(DEFAULT_TEMPLATE, help="The reviser's input (revision must use the same): one user message built from this template ({instruction} = the prompt's turns as text, {draft} = the response to judge).")
    keep_target: str = field("tag_draft", choices=("tag", "tag_draft"), help="What a KEEP example teaches: tag_draft (the tag, then the draft copied: the reviser learns to copy what is good; revision still stops at a KEEP tag, so a kept draft costs a few tokens) or tag (the tag line alone). On the testbed's dev set tag_draft's revisions of the policy's drafts scored 0.58 against tag's 0.47, and it kept more perfect drafts (benchmarks/keep_margin.py).")
    draft_dropout: float = field(0.0, min=0.0, max=1.0, help="Share of the MAJOR examples whose draft is replaced by an empty one in the reviser's input (seeded per example; targets unchanged). A MAJOR draft is far from its target, so hiding it trains the reviser to answer from the prompt alone, as a teacher does, while KEEP and MINOR examples still teach copying and editing. On the testbed 0.5 made the reviser copy more and answer worse (README, 'What was tried'), so it is off by default.")
    answer_examples: int = field(0, min=0, help="Extra examples per prompt that answer it from an empty draft (the input shows no draft, the target is MAJOR + the best response), added to the drafts' own. They give the reviser the practice a teacher gets: a teacher's examples all answer the prompt, while the reviser's drafts are kept, fixed or reformatted in most of its. To keep the cost, divide reviser_train.train.epochs by the growth of the data (5 drafts per prompt on the testbed: 5 extra examples and half the epochs train as many steps). On the testbed 5 at half the epochs made the reviser write worse (0.455 against 0.538 on the policy's dev drafts, three seeds; README, 'Is revision better than distillation?'), so it is off by default.")
    show_draft: bool = field(True, help="false: the 'SEFT without drafts' ablation. The reviser's input holds an empty draft and every example's target is the revision (MAJOR + the best response): a teacher that answers the prompt, trained on the same examples.")

    def __post_init__(self):
        if self.keep_gap > self.major_gap:
            raise ValueError(f"keep_gap ({self.keep_gap}) must not exceed major_gap ({self.major_gap})")
        if self.pair_scale is not None and not self.pair_scale[0] < self.pair_scale[1]:
            raise ValueError(f"pair_scale must be [min, max] with min < max, got {list(self.pair_scale)}")
        if "{instruction}" not in self.template or "{draft}" not in self.template:
            raise ValueError("template must contain {instruction} and {draft}")
        if set(self.tags) != set(LEVELS) or len(set(self.tags.values())) != 3 or not all(t.strip() for t in self.tags.values()):
            raise ValueError(f"tags must map exactly {list(LEVELS)} to three distinct non-empty strings")


@dataclass
class ReviserTrainConfig:
    data: str | None = field(None, help="Reviser training examples from `seft reviser data` (default in `seft run`: RUN/reviser/data.jsonl).")
    base_model: str | None = field(None, help="Model the reviser is trained from: hub id or local folder (default in `seft run`: the testbed's base policy).")
    out: str | None = field(None, help="Output model folder (default in `seft run`: RUN/reviser/model).")
    train: TrainConfig = field(default_factory=lambda: TrainConfig(epochs=4.0, learning_rate=1e-3), help="SFT settings for the reviser.")


@dataclass
class ReviseConfig:
    reviser: str | None = field(None, help="Trained reviser model folder.")
    input: str | None = field(None, help="Records to revise, in the external-response shape: `id`, `prompt`, `response` (the draft).")
    input_format: str = field("seft", choices=DATA_FORMATS, help="Row shape of `input`: " + FORMATS_HELP + ". The draft is the row's answer (Alpaca's output, ShareGPT's last gpt turn, a pair's chosen, a scored list's best response).")
    out: str | None = field(None, help="Output JSONL: prompt, draft, level, final response, changed flag, fallback reason.")
    tags: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_TAGS), help="Tag strings; must match the reviser's training data.")
    template: str = field(DEFAULT_TEMPLATE, help="Must match the reviser's training data. The reviser's input: one user message built from this template ({instruction} = the prompt's turns as text, {draft} = the response to judge).")
    max_revision_ratio: float = field(4.0, min=1.0, help="A revision longer than this many times the draft (+32 chars) is runaway: the draft stands.")
    show_draft: bool = field(True, help="Show the draft in the reviser's input; false only for a reviser trained without drafts (the 'SEFT without drafts' ablation). In `seft run` it follows reviser_data.show_draft.")
    engine: str = field("auto", choices=("auto", "two_pass"), help="auto: on the hf backend with greedy decoding, one pass per draft: the prompt is prefilled once, the tag decoded, a KEEP stops there, and a revision continues from the same cache with the draft as the speculation (token for token what greedy decoding gives, faster; the likelihood decision comes from the same pass); otherwise, and with two_pass: tags for all drafts, then revisions with the tag forced (any backend, sampling allowed).")
    speculate: int = field(8, min=1, help="engine auto, speculation doubling: draft tokens the first verifying pass after the tag proposes when keep_margin is null (with the likelihood decision it proposes the whole draft), and the length every later pass starts from.")
    speculation: str = field("adaptive", choices=("adaptive", "doubling"), help="engine auto: how many draft tokens a verifying pass proposes. adaptive: from the cost of a pass (pass_overhead) and how often each row's proposals were accepted so far (shrunk towards the rate of all the call's rows): short where every position costs (a CPU) and the revisions edit often, long where a pass costs about the same at any width (a GPU). doubling: `speculate` tokens, doubled while proposals are taken whole. Only the speed changes.")
    pass_overhead: float | None = field(None, min=0.0, help="speculation adaptive: the fixed cost of one verifying pass, in positions' worth (benchmarks/revise_speed.py measures it). null: the device's default (40 on a CPU, 1e5 on a GPU). A setting rather than a clock reading, so that a run computes the same thing every time.")
    keep_margin: float | None = field(1.0, min=0.0, help="The likelihood decision: after a MINOR/MAJOR revision, one teacher-forced pass scores the draft as the reviser's answer; the draft stands when its log-likelihood (nats, end of turn included) is within this margin of the revision's. The reviser's own judgment, no label involved. null: off (the tag alone decides). hf backend only. The default 1 (8 for the default external phase) was chosen on the testbed's dev set with benchmarks/keep_margin.py: the smallest margin that keeps >= 95% of the perfect drafts there. `seft run` chooses it again for its own reviser by the same rule (`calibration`).")
    generation: GenerationConfig = field(default_factory=lambda: GenerationConfig(temperature=0.0), help="Decoding for revisions (greedy by default: the reviser should be decisive).")


@dataclass
class ReviseCommandConfig(ReviseConfig):
    """`seft revise`: revise a file of drafts; with a judge, also audit the revisions."""
    judge: JudgeConfig | None = field(None, help="Judge the drafts and the final responses with this judge and write the revision audit to OUT with the suffix .audit.json (the input's meta must carry what the judge needs, e.g. meta.task and meta.reference for the testbed judge). null: no audit.")
    audit: AuditConfig = field(default_factory=AuditConfig, help="How the audit judges (sample, mode, top score).")
