"""Decisions after the model: the brand's engagement playbook and the scored records.

The playbook (YAML, policy, not learned) turns label probabilities and urgency into a priority
tier, a response deadline, a route and an escalation flag; ``scoring`` assembles the output
contract (records and the flat form).
"""

from triage_ml._lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "Playbook": ".playbook",
        "load_playbook": ".playbook",
        "parse_playbook": ".playbook",
        "prioritise": ".playbook",
        "derived_urgency": ".playbook",
        "Predictions": ".scoring",
        "score_posts": ".scoring",
        "score_in_batches": ".scoring",
        "score_records": ".scoring",
        "ScoredRecords": ".scoring",
    },
)
