"""bench/faults: the reliability figures of a seeded fault campaign on the real sweep.

`figures` is the one place these figures are worded: bench/faults.py prints them, the report tabulates them."""

from __future__ import annotations

from typing import Any

from bench.report.core import Renderer, cell, num, table


def figures(r: dict[str, Any]) -> list[tuple[str, str]]:
    llm, budget, kill, files, secrets = r["llm"], r["budget"], r["kill"], r["files"], r["secrets"]
    served = ", ".join(f"{kind} {n}" for kind, n in llm["faults_served"].items())
    failed = "; ".join(f"{key}: {reason[:90]}" for key, reason in llm["neurons"]["failed"].items()) or "none"
    moments = ", ".join(str(m["kill_at_request"]) for m in kill["moments"])
    in_flight = [m["answers_lost_in_flight"] for m in kill["moments"]]
    alone = sum(f["neuron_1/2"] == "failed" and f["neuron_1/3"] == "ok" for f in files.values())
    return [
        ("faults", f"{sum(llm['faults_planned'].values())} planned, each on its own call; "
                   f"{sum(llm['faults_served'].values())} faulty responses served (a call failing n attempts counts n): {served}"),
        (f"LLM sweep, {r['settings']['neurons']} neurons", f"{llm['neurons']['ok']} ok, {len(llm['neurons'].get('degraded', {}))} degraded "
                                                           f"(an LLM step failed), {len(llm['neurons']['failed'])} failed "
                                                           f"({failed}), {len(llm['neurons']['unfinished'])} unfinished"),
        ("retries", f"calls that never recovered: {llm['calls_given_up']['server']}, attempts each "
                    f"{llm['attempts_of_calls_that_never_recovered']} (limit {llm['attempt_limit']}); failed attempts "
                    f"recovered by a retry: server {llm['retries_recovered']['server']}, client "
                    f"{llm['retries_recovered']['client']}, traced {llm['retries_recovered']['traced']}"),
        ("paid calls", f"answered by the server {llm['paid_calls']['answered_by_server']}, ledger "
                       f"{llm['paid_calls']['ledger_paid']}, client {llm['paid_calls']['client']}"),
        ("budget", f"{budget['budget_tokens']:,} tokens, spent {budget['spent_tokens']:,} before the stop, overshoot "
                   f"{budget['overshoot_calls']:.2f} calls (largest call {budget['largest_call_tokens']:,} tokens); after the "
                   f"rerun: answered {budget['paid_calls']['answered_by_server']}, ledger {budget['paid_calls']['ledger_paid']}"),
        ("kill -9", f"at requests {moments} (of {kill['reference_requests']}): lost {kill['lost']}, duplicate finished "
                    f"{kill['duplicate_finished']}, outputs identical {sum(m['outputs_identical'] for m in kill['moments'])}/"
                    f"{len(kill['moments'])}, answers in flight at the kill (paid twice) "
                    f"{min(in_flight, default=0)}-{max(in_flight, default=0)}"),
        ("lock", f"second sweep exit {r['lock']['second_exit_code']}, first sweep unharmed: "
                 f"{r['lock']['first_outputs_identical_to_uninterrupted']}"),
        ("bad records files", f"{alone}/{len(files)} kinds failed their neuron alone, with the file named"),
        ("secrets", f"{secrets['files_scanned']} files ({secrets['bytes_scanned'] / 2**20:.1f} MiB) scanned, key in "
                    f"{len(secrets['files_with_key'])}; {secrets['redactions_found']} redactions"),
        ("invariants broken", ", ".join(r["invariants_broken"]) or "none"),
    ]


def headline(r: dict[str, Any]) -> str:
    kill, secrets = r["kill"], r["secrets"]
    moments = len(kill["moments"])
    return (f"**{kill['lost']}** neurons lost over {moments} `kill -9` moment{'s' if moments != 1 else ''}, budget overshoot "
            f"{num(r['budget']['overshoot_calls'])} calls, planted key in {len(secrets['files_with_key'])} of "
            f"{secrets['files_scanned']:,} files; invariants broken: {', '.join(r['invariants_broken']) or 'none'}")


def details(r: dict[str, Any]) -> str:
    s = r["settings"]
    intro = (f"{s['neurons']} neurons of the tiny model through the real HTTP client, {s['faults_per_kind']} fault(s) of each "
             f"kind, {s['kills']} kill moment(s), seed {s['seed']}, at most {s['max_retries']} retries per call.")
    return intro + "\n\n" + table(["what", "figure"], [[cell(what), cell(figure)] for what, figure in figures(r)])


RENDERER = Renderer(headline, details)
