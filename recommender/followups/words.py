"""The words the follow-up grammar knows, apart from how it reads them: the critiques
(a direction along one audio feature, with the words that name it), the filter
families, and the modifier and filler words. `recommender.followups.grammar` parses
with these tables; its docstring is the grammar they fill in."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Critique:
    """A direction along one audio feature, relative to the query song."""

    feature: str
    direction: int  # +1 higher, -1 lower
    step: float  # how far one step moves the bound
    words: str  # "calmer", for "calmer than *bad guy*"
    opposite: str
    # Where the mood starts when there is no song to be "calmer than": a request such as
    # "something chill" means energy below this (`recommender.describe`). Chosen on the
    # real catalog so that a mood keeps roughly its top or bottom fifth.
    level: float = 0.5
    mood: str = ""  # the word a description names it by ("chill", "upbeat")


CRITIQUES: dict[str, Critique] = {
    "calmer": Critique("energy", -1, 0.1, "calmer", "upbeat", 0.45, "chill"),
    "upbeat": Critique("energy", +1, 0.1, "more upbeat", "calmer", 0.8, "upbeat"),
    "danceable": Critique(
        "danceability", +1, 0.1, "more danceable", "less_danceable", 0.75, "danceable"
    ),
    "less_danceable": Critique(
        "danceability", -1, 0.1, "less danceable", "danceable", 0.5, "not for dancing"
    ),
    "acoustic": Critique("acousticness", +1, 0.1, "more acoustic", "electronic", 0.5, "acoustic"),
    "electronic": Critique(
        "acousticness", -1, 0.1, "less acoustic", "acoustic", 0.02, "electronic"
    ),
    "happier": Critique("valence", +1, 0.1, "happier", "sadder", 0.7, "happy"),
    "sadder": Critique("valence", -1, 0.1, "sadder", "happier", 0.3, "sad"),
    "faster": Critique("tempo", +1, 10.0, "faster", "slower", 135.0, "fast"),
    "slower": Critique("tempo", -1, 10.0, "slower", "faster", 95.0, "slow"),
    "instrumental": Critique(
        "instrumentalness", +1, 0.2, "more instrumental", "vocal", 0.5, "instrumental"
    ),
    "vocal": Critique("instrumentalness", -1, 0.2, "more vocal", "instrumental", 0.01, "vocal"),
    "less_talky": Critique("speechiness", -1, 0.04, "less talky", "talkier", 0.05, "not talky"),
    "talkier": Critique("speechiness", +1, 0.04, "talkier", "less_talky", 0.25, "talky"),
}

FILTERS: dict[str, str] = {  # name -> the group in which a newer filter replaces an older
    "no_remix": "remix",
    "only_remix": "remix",
    "no_live": "live",
    "only_live": "live",
    "other_artists": "artist",
    "same_artist": "artist",
    "popular": "popularity",
    "deep_cuts": "popularity",
    "years": "years",
    "not_years": "years",
    "older": "years",
    "newer": "years",
    "genre": "genre",  # a word the catalog's playlists are labelled or named with
    "not_genre": "genre",
}
FILTER_OPPOSITE = {
    "no_remix": "only_remix",
    "only_remix": "no_remix",
    "no_live": "only_live",
    "only_live": "no_live",
    "other_artists": "same_artist",
    "same_artist": "other_artists",
    "popular": "deep_cuts",
    "deep_cuts": "popular",
    "years": "not_years",
    "not_years": "years",
    "older": "newer",
    "newer": "older",
    "genre": "not_genre",
    "not_genre": "genre",
}
# Filters that compare with the query song; a description has none to compare with.
SONG_RELATIVE = frozenset({"other_artists", "same_artist", "older", "newer"})

PHRASES: dict[str, str] = {}


def _words(name: str, *phrases: str) -> None:
    for phrase in phrases:
        PHRASES[phrase] = name


_words(
    "calmer",
    "chill",
    "chiller",
    "chilled",
    "chillout",
    "calm",
    "calmer",
    "mellow",
    "mellower",
    "relaxed",
    "relaxing",
    "soft",
    "softer",
    "gentle",
    "gentler",
    "quiet",
    "quieter",
    "laid back",
    "laidback",
    "low energy",
    "lower energy",
    "less intense",
)
_words(
    "upbeat",
    "upbeat",
    "energetic",
    "energy",
    "high energy",
    "higher energy",
    "intense",
    "harder",
    "heavier",
    "louder",
    "hype",
    "hyped",
    "punchier",
    "pumped",
    "livelier",
)
_words(
    "danceable",
    "danceable",
    "danceability",
    "dancey",
    "dancy",
    "dancier",
    "groovy",
    "groovier",
    "dance",
    "dancing",
    "for dancing",
)
_words("acoustic", "acoustic", "acoustics", "unplugged", "organic")
_words("electronic", "electronic", "synthy", "electric")
_words("happier", "happy", "happier", "cheerful", "brighter", "bright", "sunnier", "uplifting")
_words("happier", "feel good", "feelgood", "positive", "joyful")
_words("sadder", "sad", "sadder", "darker", "dark", "moody", "moodier", "melancholic")
_words("sadder", "melancholy", "gloomy", "gloomier")
_words("faster", "faster", "fast", "quicker", "quick", "higher tempo", "higher bpm")
_words("slower", "slower", "slow", "lower tempo", "lower bpm")
_words("instrumental", "instrumental", "instrumentals", "instrumentally")
_words("vocal", "vocals", "vocal", "singing", "sung", "lyrics", "voice", "voices")
_words("talkier", "talky", "talkier", "talking", "rap", "rappy", "rapping", "spoken", "speech")
_words("talkier", "wordy", "wordier", "chatty")
_words("only_remix", "remix", "remixes", "remixed", "rmx", "remixs")
_words("only_live", "live", "live versions", "live version", "live recordings", "concert")
_words("only_live", "live recording", "in concert")
_words("other_artists", "other artists", "other artist", "different artists", "different artist")
_words("other_artists", "another artist", "new artists", "other bands", "different bands")
_words("same_artist", "same artist", "same band", "this artist", "same singer")
_words("same_artist", "the artist", "this band", "the band", "this singer", "the singer")
_words("popular", "popular", "hits", "hit", "mainstream", "well known", "famous", "known")
_words("deep_cuts", "deep cuts", "deep cut", "obscure", "underground", "lesser known")
_words("deep_cuts", "hidden gems", "unknown", "niche", "b sides", "rare")
_words("older", "older", "old", "oldies", "classic", "classics")
_words("newer", "newer", "new", "recent", "fresh", "modern")
_words("reset", "reset", "clear", "start over", "no filters", "no refinements")

# "not/no" + critique turns it round; "less" too, and "more" keeps it.
NEGATIONS = {"no", "not", "without", "non", "minus", "except", "nothing", "excluding", "wo"}
NEGATION_PHRASES = {("with", "no"), ("w", "o"), ("none", "of")}
INTENSITY = {"much", "way", "lot", "even", "really", "very", "super", "far", "extra", "lots"}
MORE = {"more", "plus", "higher"}
LESS = {"less", "fewer", "lower", "lesser"}
FILLER = {
    "a",
    "an",
    "the",
    "bit",
    "little",
    "slightly",
    "somewhat",
    "tad",
    "please",
    "pls",
    "plz",
    "songs",
    "song",
    "tracks",
    "track",
    "music",
    "stuff",
    "something",
    "some",
    "ones",
    "one",
    "only",
    "just",
    "with",
    "from",
    "in",
    "of",
    "by",
    "make",
    "it",
    "them",
    "versions",
    "version",
    "era",
    "released",
    "release",
    "releases",
    "years",
    "year",
    "kind",
    "sort",
    "maybe",
    "and",
    "but",
    "than",
    "that",
    "this",
    "too",
    "ish",
    "i",
    "want",
    "like",
    "give",
    "me",
    "show",
    "can",
    "you",
    "still",
    "also",
    "now",
    "then",
    "thanks",
    "thank",
    "vibe",
    "vibes",
    "feel",
    "feeling",
    "mood",
    "sound",
    "sounding",
    "tunes",
    "tempo",
    "bpm",
    "to",
    "for",
    "playlist",
    "playlists",
    "genre",
    "genres",
    "type",
}
SEPARATOR_TOKENS = {",", ";", "&", "+", "and", "but"}
NUMBER_WORDS = {
    "fifties": 1950,
    "sixties": 1960,
    "seventies": 1970,
    "eighties": 1980,
    "nineties": 1990,
    "noughties": 2000,
    "aughts": 2000,
}
