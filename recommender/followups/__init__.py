"""Follow-ups that steer an answer ("calmer", "no remixes", "more", "like 3", "why 2").

People rarely get what they want from the first list; in a chat they say "calmer", "no
remixes please", "more like the third one". Three parts, each in its own module:
`grammar` turns those words into refinements, `constraints` applies them to the songs
around the query (through the one ranking function), and `conversation` keeps what a
follow-up needs to know about the last answer.
"""

from recommender.followups.constraints import PAGE_SIZE, Answer, recommend
from recommender.followups.conversation import (
    Conversation,
    FollowUpError,
    Turn,
    like,
    more,
    refine,
    start,
    why,
)
from recommender.followups.grammar import (
    Parsed,
    Refinement,
    Request,
    combine,
    parse_refinements,
    split_request,
)

__all__ = [
    "PAGE_SIZE",
    "Answer",
    "Conversation",
    "FollowUpError",
    "Parsed",
    "Refinement",
    "Request",
    "Turn",
    "combine",
    "like",
    "more",
    "parse_refinements",
    "recommend",
    "refine",
    "split_request",
    "start",
    "why",
]
