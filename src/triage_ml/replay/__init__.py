"""The inbox replay: a labelled history with real arrival times, worked by K simulated agents in
four orders (arrival, triage-ml priority, keyword rules, the truth), judged on what a helpdesk
feels: complaints answered within the hour, deadlines met, who waits how long.

Modules: simulate (the deterministic event queue), orderings (the four orders as ranks),
keywords (the keyword-rule baseline and its YAML lists), run (the replay, its result, JSON/CSV
output) and plots (wait per label and order; answered in time against staffing).
"""

from triage_ml._lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "simulate_inbox": ".simulate",
        "Served": ".simulate",
        "ORDERINGS": ".orderings",
        "KeywordRules": ".keywords",
        "load_keywords": ".keywords",
        "parse_keywords": ".keywords",
        "replay": ".run",
        "ReplayResult": ".run",
        "agents_sweep": ".run",
        "write_replay": ".run",
        "load_replay": ".run",
        "plot_waits": ".plots",
        "plot_within_by_agents": ".plots",
    },
)
