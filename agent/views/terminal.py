"""Pure: view models -> plain text for an 80-column terminal (no colour, so it pipes and diffs cleanly).

Every text that came from the corpus, a probe or an LLM goes through `visible()`: line breaks and
tabs become visible marks and other control characters become escapes, so a token holding an
ANSI escape sequence cannot drive the terminal.
"""

from __future__ import annotations

import textwrap
import unicodedata
from collections.abc import Sequence

from agent.score_job import ScoreOutcome
from agent.views.model import (
    Call,
    Change,
    CounterexampleView,
    Discarded,
    Heldout,
    NeuronRow,
    NeuronStory,
    RunSummary,
    Step,
)
from graphs.trace import Finalized
from tools.scorers import FieldScores
from tools.subject.output_side import OutputSide, TokenValue

WIDTH = 80
EXPLANATION_LINES = 6
SNIPPET_TOKENS = 24


def visible(text: str) -> str:
    out = []
    for ch in text:
        if ch == "\n":
            out.append("↵")
        elif ch == "\t":
            out.append("⇥")
        elif unicodedata.category(ch) in ("Cc", "Cf") or ch in "\u2028\u2029":
            out.append(f"\\x{ord(ch):02x}" if ord(ch) < 0x100 else f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return "".join(out)


def _r(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _gain(value: float | None) -> str:
    return "-" if value is None else f"{value:+.3f}"


def _ci(ci: tuple[float, float] | None) -> str:
    return "" if ci is None else f"95% CI [{ci[0]:.3f}, {ci[1]:.3f}]"


def _wrap(text: str, indent: int, max_lines: int | None = None) -> list[str]:
    prefix = " " * indent
    lines = textwrap.wrap(visible(text), WIDTH - indent, break_on_hyphens=False) or [""]
    if max_lines is not None and len(lines) > max_lines:
        hidden = sum(len(line) for line in lines[max_lines - 1:])
        lines = lines[: max_lines - 1] + [f"… ({hidden} more characters; --json shows all)"]
    return [prefix + line for line in lines]


def _clip(text: str, width: int = WIDTH) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _n(count: int, word: str) -> str:
    return f"{count} {word}" + ("" if count == 1 else "s")


def _spend(tokens: int, cost_usd: float) -> str:
    return f"{tokens:,} tokens · ${cost_usd:.4f}"


# --- the run -------------------------------------------------------------------------------------

_COLUMNS = (("neuron", 8, "<"), ("status", 11, "<"), ("builtin", 8, ">"), ("one-shot", 9, ">"), ("refined", 9, ">"),
            ("gain", 8, ">"), ("iters", 6, ">"), ("tokens", 9, ">"), ("cost", 10, ">"))


def _table_line(cells: Sequence[str]) -> str:
    return "".join(f"{cell:{align}{width}}" for cell, (_, width, align) in zip(cells, _COLUMNS, strict=True)).rstrip()


def _row_cells(row: NeuronRow) -> list[str]:
    return [f"{row.layer}/{row.neuron}", row.status, _r(row.baseline), _r(row.oneshot), _r(row.refined), _gain(row.gain),
            str(row.iterations), f"{row.tokens:,}", f"${row.cost_usd:.4f}"]


def failed_records_note(row: NeuronRow) -> str | None:
    """Held-out records a simulation failed, and how many the paired gain is over; None when none failed."""
    if not row.oneshot_failed and not row.refined_failed:
        return None
    parts = [f"{name} {n}" for name, n in (("one-shot", row.oneshot_failed), ("refined", row.refined_failed)) if n]
    return (f"held-out records whose simulation failed: {', '.join(parts)} of {row.heldout_records}; "
            f"the gain is over the {row.paired_records} both read")


def run_text(summary: RunSummary) -> str:
    counts = ", ".join(f"{n} {status}" for status, n in sorted(summary.counts.items())) or "no neurons yet"
    head = f"run {summary.run}" + (f" · backend {summary.backend}" if summary.backend else "")
    head += f" · {_n(len(summary.neurons), 'neuron')} ({counts}) · {_spend(summary.tokens, summary.cost_usd)}"
    lines = _wrap(head, 0) + ["", _table_line([name for name, _, _ in _COLUMNS])]
    lines += [_table_line(_row_cells(row)) for row in summary.neurons]
    notes = []
    for row in summary.neurons:
        where = f"{row.layer}/{row.neuron}"
        if row.status == "running":
            best = f"; best selection r {_r(row.best_selection)}" if row.best_selection is not None else ""
            notes.append(f"{where} running" + (f": at {row.now}" if row.now else "") + best)
        elif row.status in ("failed", "unreadable"):
            notes.append(f"{where} {row.status}: {row.error or row.stop_reason or row.stop or 'no reason recorded'}")
        elif row.status == "degraded":
            notes.append(f"{where} degraded: {'; '.join(row.problems) or 'no reason recorded'}")
        elif row.status == "skipped":
            notes.append(f"{where} skipped: {row.stop_reason or 'not refined'}")
        if (failed := failed_records_note(row)) is not None:
            notes.append(f"{where}: {failed}")
    if notes:
        lines.append("")
        lines += [line for note in notes for line in _wrap(note, 0)]
    lines += ["", "scores: held-out Pearson r; builtin: the free explanation of a sweep's triage;",
              "gain: refined - one-shot, on the held-out records both simulations read.",
              "A neuron's story: refinery trace RUN --neuron L/N"]
    return "\n".join(lines) + "\n"


# --- one neuron ----------------------------------------------------------------------------------

_LABELS = {"oneshot": "one-shot", "refined": "refined", "baseline": "builtin"}
WEAK_VALUE_MASS = 0.5
"""Below this, most of a simulator's probability at a value slot went to something other than a value."""


def _heldout_lines(item: Heldout, row: NeuronRow) -> list[str]:
    score = f"r {_r(item.score)}" + (f" ({item.reason})" if item.reason else "")
    gain = f"gain {_gain(row.gain)}" if item.role == "refined" and row.gain is not None else ""
    extra = "  ".join(x for x in (_ci(item.ci), gain) if x)
    lines = [f"  {_LABELS[item.role]:<9} {score}  {extra}".rstrip()]
    if item.failed:
        lines += _wrap(f"simulation failed on record{'s' if len(item.failed) > 1 else ''} "
                       f"{', '.join(str(i + 1) for i in item.failed)}: left out of its score", 4)
    if item.value_mass is not None and item.value_mass < WEAK_VALUE_MASS:
        lines += _wrap(f"weak reading: at a median slot the simulator put {item.value_mass:.1%} of its probability on "
                       "values (the rest on other tokens, such as the prompt's placeholder); its values are read from that", 4)
    if item.scorers is not None:
        lines += _scorer_lines(item.scorers, 4)
    return lines + _wrap(item.explanation, 4, EXPLANATION_LINES)


def _scorer_lines(s: FieldScores, indent: int) -> list[str]:
    lines = _wrap(f"detection {_r(s.detection)} · fuzzing {_r(s.fuzzing)} (balanced accuracy, chance 0.50) · random records: "
                  f"F1 {_r(s.f1)} · IoU {_r(s.iou)} · AUPRC {_r(s.auprc)} · r {_r(s.random_r)} (active: ≥ {s.active_fraction:g} "
                  f"of max = {s.threshold:.3g})", indent)
    if s.llm is not None:
        j = s.llm
        cached = f", {j.cached_calls} from the journal (free)" if j.cached_calls else ""
        left = f"; {j.unanswered} texts unanswered ({j.unreadable[0]})" if j.unanswered else ""
        lines += _wrap(f"LLM judge {j.model}: detection {_r(j.detection)} · fuzzing {_r(j.fuzzing)} on {j.texts} texts{left} · "
                       f"{j.calls} calls{cached}, {j.prompt_tokens + j.completion_tokens} tokens, ${j.cost_usd:.4f}", indent)
    return lines


def score_text(outcome: ScoreOutcome) -> str:
    """`refinery score`: the held-out r, the field's scorers beside it, and the output side."""
    reason = f" ({outcome.heldout_reason})" if outcome.heldout_reason else ""
    lines = _wrap(f"neuron {outcome.layer}/{outcome.neuron} · simulator {outcome.method}", 0)
    lines += _wrap(outcome.explanation, 2, EXPLANATION_LINES)
    lines += [f"  held-out r {_r(outcome.heldout_score)}  {_ci(outcome.heldout_ci)}{reason}".rstrip()]
    lines += _scorer_lines(outcome.scorers, 2)
    if outcome.judge_error:
        lines += _wrap(f"LLM judge: no score ({outcome.judge_error})", 2)
    lines += [f"  cost: simulation {outcome.simulate_seconds:.2f} s, scorers {outcome.scorers_seconds * 1000:.1f} ms"]
    if outcome.output is not None:
        lines += _output_lines(outcome.output)
    return "\n".join(lines) + "\n"


def _tokens(values: Sequence[TokenValue], n: int = 6) -> str:
    return ", ".join(f"{visible(t.token)!r} {t.value:+.2g}" for t in values[:n])


def _output_lines(side: OutputSide) -> list[str]:
    """What the neuron does to the output: its vocabulary projection and its ablation effect."""
    lines = ["", f"Output side (what it does; {side.records} top records, {side.seconds:.1f} s)"]
    lines += _wrap(f"promotes: {_tokens(side.vocab.promoted_normed)}", 2)
    lines += _wrap(f"suppresses: {_tokens(side.vocab.suppressed_normed)}", 2)
    lines += _wrap(f"raw, without the final norm's scale: promotes {_tokens(side.vocab.promoted, 4)}; "
                   f"suppresses {_tokens(side.vocab.suppressed, 4)}", 2)
    for key, change in side.changes.items():
        lines += _wrap(f"{key}: next-token loss {change.loss_clean:.4f} → {change.loss_changed:.4f} ({change.delta_loss:+.4f} nats) "
                       f"over {change.positions} positions; rises: {_tokens(change.risen, 4)}; falls: {_tokens(change.fallen, 4)}", 2)
    return lines


def _snippet(item: CounterexampleView) -> str:
    tokens, marked = item.text.tokens, set(item.text.offending)
    first = min(marked, default=0)
    start = max(0, first - SNIPPET_TOKENS // 2)
    end = min(len(tokens), start + SNIPPET_TOKENS)
    body = "".join(f"⟦{tok}⟧" if i in marked else tok for i, tok in enumerate(tokens[start:end], start))
    return ("…" if start > 0 else "") + body + ("…" if end < len(tokens) else "")


def _counterexample_lines(item: CounterexampleView) -> list[str]:
    kind = item.kind.replace("_", " ")
    lines = [f"    {kind} · {visible(item.generator)} · error {item.error:.2f} (0-10 scale)"]
    lines += _wrap(_snippet(item), 6, 3)
    predicted = item.text.simulated or []
    for i in item.text.offending[:3]:
        sim = f"{predicted[i]:.2f}" if i < len(predicted) else "-"
        lines.append(f"      ⟦{_clip(visible(item.text.tokens[i]), 30)}⟧ real {item.text.real[i]:.4g}, predicted {sim}/10")
    if len(item.text.offending) > 3:
        lines.append(f"      (+{len(item.text.offending) - 3} more offending tokens)")
    return lines


def _call_lines(calls: Sequence[Call], each: bool) -> list[str]:
    if not calls:
        return []
    tokens = sum(c.prompt_tokens + c.completion_tokens for c in calls)
    head = (f"  LLM calls: {len(calls)} · {_spend(tokens, sum(c.cost_usd for c in calls))} · "
            f"{sum(c.latency_s for c in calls):.2f} s")
    lines = [head]
    if each:
        for c in calls:
            flags = " ".join(x for x in ("cached" if c.cached else "", f"retries {c.retries}" if c.retries else "",
                                         f"error: {visible(c.error)}" if c.error else "") if x)
            line = (f"    {visible(c.purpose):<10} {visible(c.model)}  {c.prompt_tokens}+{c.completion_tokens} tok  "
                    f"{c.latency_s:.2f} s  ${c.cost_usd:.4f}  {flags}")
            lines.append(_clip(line.rstrip()))
        return lines
    by_purpose: dict[str, list[Call]] = {}
    for c in calls:
        by_purpose.setdefault(c.purpose, []).append(c)
    for purpose, group in sorted(by_purpose.items()):
        failed = sum(1 for c in group if c.error)
        cached = sum(1 for c in group if c.cached)
        extra = "".join((f", {cached} cached" if cached else "", f", {failed} failed" if failed else ""))
        lines.append(f"    {visible(purpose):<10} {len(group):>4} calls {sum(c.prompt_tokens + c.completion_tokens for c in group):>9,} "
                     f"tokens {sum(c.latency_s for c in group):>8.2f} s{extra}")
    lines += [line for c in calls if c.error for line in _wrap(f"failed {c.purpose} call: {c.error}", 4, 2)]
    return lines


def _step_lines(step: Step, each_call: bool) -> list[str]:
    source = step.source or "?"
    lines = [f"Iteration {step.iteration} · {source} · {_n(len(step.candidates), 'candidate')} scored on the selection split"]
    for cand in step.candidates:
        mark = ">" if cand.explanation == step.top else " "
        score = _r(cand.score) if cand.score is not None else "n/a"
        reason = f" [{cand.score_reason}]" if cand.score is None and cand.score_reason else ""
        lines.append(_clip(f" {mark}{score:>6}  " + visible(cand.explanation + reason)))
    if step.decision:
        lines += _wrap(f"{step.decision}: {step.reason} · best selection r {_r(step.best_score)}", 2)
    texts = sum(len(g.texts) for g in step.probe_groups)
    if step.probe_groups:
        groups = ", ".join(f"{visible(g.generator)} {len(g.texts)}" for g in step.probe_groups)
        lines += _wrap(f"probes of the adopted explanation: {texts} texts ({groups})", 2)
    if step.probed is not None:
        lines.append(f"  counterexamples: {len(step.counterexamples)} (offending tokens in ⟦ ⟧; real = raw activation)")
        for item in step.counterexamples:
            lines += _counterexample_lines(item)
    lines += _call_lines(step.calls, each_call)
    lines += [line for error in step.errors for line in _wrap(f"error in {error}", 2, 3)]
    lines += _discarded_lines(step.discarded)
    return lines


def _discarded_lines(discarded: Sequence[Discarded]) -> list[str]:
    """Per purpose, the answers that gave no candidate: how many, and why."""
    lines = []
    for purpose in dict.fromkeys(d.purpose for d in discarded):
        mine = [d for d in discarded if d.purpose == purpose]
        reasons = "; ".join(f"{d.count} × {_clip(d.reason, 200)}" for d in mine)
        lines += _wrap(f"discarded {purpose} answers ({sum(d.count for d in mine)}): {reasons}", 2, 3)
    return lines


def story_text(story: NeuronStory, each_call: bool = False) -> str:
    row = story.row
    stop = f" · stopped: {story.stop}" + (f" ({story.stop_reason})" if story.stop_reason else "") if story.stop else ""
    now = f" at {row.now}" if row.now else ""
    lines = _wrap(f"neuron {row.layer}/{row.neuron} · run {story.run} · {row.status}{now}{stop}", 0)
    facts = [f"simulator {row.method}" if row.method else "", _n(row.iterations, "round"), _n(row.probes, "probe"),
             _n(row.counterexamples, "counterexample"), _spend(row.tokens, row.cost_usd),
             f"{row.seconds:.1f} s" if row.seconds is not None else ""]
    lines += _wrap(" · ".join(f for f in facts if f), 0)
    if row.error:
        lines += _wrap(f"error: {row.error}", 0)
    for problem in row.problems:
        lines += _wrap(f"degraded: {problem}", 0)
    if story.heldout:
        lines += ["", "Held-out score (test split: nothing in the loop saw it)"]
        for item in story.heldout:
            lines += _heldout_lines(item, row)
        if row.paired_records is not None and row.paired_records != row.heldout_records:
            lines += _wrap(f"the gain is over the {row.paired_records} of {row.heldout_records} records both "
                           "simulations read", 2)
    elif row.status == "running" and row.best_selection is not None:
        lines += ["", f"Best so far (selection split): r {_r(row.best_selection)}"] + _wrap(row.explanation or "", 4, EXPLANATION_LINES)
    if story.output is not None:
        lines += _output_lines(story.output)
    for step in story.steps:
        lines += [""] + _step_lines(step, each_call)
    if story.final_calls:
        lines += ["", "Held-out scoring"] + _call_lines(story.final_calls, each_call)
    if story.notes:
        lines += [""] + [line for note in story.notes for line in _wrap(f"note: {note}", 0)]
    return "\n".join(lines) + "\n"


def _verdict(final: Finalized) -> str:
    """One plain sentence on whether the loop helped this neuron, from the paired held-out comparison."""
    paired = final.paired
    if final.oneshot is not None and final.refined is not None and final.oneshot.explanation == final.refined.explanation:
        return "The loop kept the one-shot explanation: no revision beat it beyond noise."
    if paired is None or paired.gain is None:
        return "The held-out gain is undefined (a score could not be computed)."
    ci = paired.gain_ci
    interval = f" (95% CI [{ci[0]:+.3f}, {ci[1]:+.3f}])" if ci else ""
    on = f"on the {paired.n_paired} held-out records both read"
    if ci is not None and ci[0] > 0:
        return f"Refinement improved this neuron: gain {paired.gain:+.3f}{interval} {on}."
    if ci is not None and ci[1] < 0:
        return f"Refinement made this neuron worse: gain {paired.gain:+.3f}{interval} {on}."
    return f"Not a clear improvement: gain {paired.gain:+.3f}{interval} {on}; the interval includes 0."


def refinement_text(final: Finalized, changes: Sequence[Change], report: str, width: int = 100) -> str:
    """The demo's account of one refined neuron: one-shot vs refined held-out r, the counterexamples
    behind each adopted revision (at most two shown per revision), a verdict, and where the report is."""
    def wrap(text: str, indent: int = 0) -> list[str]:
        return textwrap.wrap(visible(text), width, initial_indent=" " * indent, subsequent_indent=" " * (indent + 2),
                             break_on_hyphens=False) or [""]

    lines = wrap(f"Refinement of neuron {final.layer}/{final.neuron} (lowest selection score): {_n(final.iterations, 'round')}, "
                 f"{_n(final.probes, 'probe')}, {_n(final.counterexamples, 'counterexample')}; stopped: {final.stop}")
    for name, result in (("one-shot", final.oneshot), ("refined", final.refined)):
        if result is None:
            lines += wrap(f"{name:>8}: none", 2)
            continue
        score = "undefined" if result.heldout_score is None else f"{result.heldout_score:.3f}"
        ci = f" [{result.heldout_ci[0]:.3f}, {result.heldout_ci[1]:.3f}]" if result.heldout_ci else ""
        lines += wrap(f"{name:>8}: held-out r {score}{ci}  {result.explanation}", 2)
    for change in changes:
        why = f"selection r {change.delta:+.3f}" if change.delta is not None else "adopted"
        sure = f", P(better) {change.p_better:.2f}" if change.p_better is not None else ""
        lines += wrap(f"round {change.iteration} adopted ({why}{sure}): {change.explanation}", 2)
        for label in change.answers[:2]:
            lines += wrap(f"answers: {label}", 6)
        if not change.answers:
            lines += wrap("(it answers no named counterexample: a refit on the records and every probe so far, or an LLM "
                          "revision that named none it fixes)", 6)
    if not changes:
        lines += wrap("No revision was adopted, so no counterexample changed the explanation.", 2)
    for problem in final.problems:
        lines += wrap(f"degraded: {problem}", 2)
    lines += wrap(_verdict(final)) + wrap(f"HTML report: {report}")
    return "\n".join(lines) + "\n"
