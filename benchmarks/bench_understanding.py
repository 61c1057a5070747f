"""Does the bot understand what members type? Prints one figure per kind of request.

Usage: .venv/bin/python benchmarks/bench_understanding.py [--model DIR] [--big] [--seed 0]

Lists written for this benchmark (none of them from the tests or the docs):
* famous songs typed as a bare title, with the artist people mean; the ones the catalog
  holds (that title by that artist, any version) count towards the famous-version rate.
  Two lists: FAMOUS, which the title rules were first built against, and CLASSICS,
  written later (before looking at what the catalog holds for them) to check that the
  rule choosing among songs of one title (`recommender.search.FAME_PER_YEAR`) holds on
  songs it was not tuned on;
* songs the catalog lacks, typed as `title - artist`: none may be answered as another
  artist's song of that title, and when the artist is in the catalog the answer is songs
  like them;
* the catalog's 200 most popular artists (computed from the catalog: the sum of their
  songs' popularity), typed alone in lower case: how many get the artist's answer, and how
  many of its 10 picks share the artist's main genre (the genre most of their playlist
  memberships carry; a pick counts when any playlist holding it has that genre).

Then `Recommender.understand` latency (p50/p99) over all of that text plus typos, at the
real catalog and, with --big, at a synthetic catalog of ~400k tracks
(`recommender.synthetic`, "3.3M" memberships) whose embeddings are random with the
catalog's structure, as in benchmarks/bench_scale.py (reading text does not depend on
the embeddings). Targets: famous >= 97%, passed off 0, artist alone >= 95% with >= 6/10 in
their main genre, p99 <= 20 ms.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

from recommender import Reading, Recommender  # noqa: E402
from recommender.ranking import DEFAULT_ARTIST_CAP  # noqa: E402
from recommender.search import base_title, normalize  # noqa: E402

# (bare title as typed, the artist people mean)
FAMOUS: list[tuple[str, str]] = [
    ("Bohemian Rhapsody", "Queen"),
    ("Billie Jean", "Michael Jackson"),
    ("Smells Like Teen Spirit", "Nirvana"),
    ("Hotel California", "Eagles"),
    ("Sweet Child O' Mine", "Guns N' Roses"),
    ("Like a Rolling Stone", "Bob Dylan"),
    ("Imagine", "John Lennon"),
    ("Hey Jude", "The Beatles"),
    ("Superstition", "Stevie Wonder"),
    ("Respect", "Aretha Franklin"),
    ("Purple Rain", "Prince"),
    ("Thriller", "Michael Jackson"),
    ("Beat It", "Michael Jackson"),
    ("Livin' on a Prayer", "Bon Jovi"),
    ("Africa", "TOTO"),
    ("Take On Me", "a-ha"),
    ("Don't Stop Believin'", "Journey"),
    ("Another One Bites the Dust", "Queen"),
    ("Under Pressure", "Queen"),
    ("Back in Black", "AC/DC"),
    ("Highway to Hell", "AC/DC"),
    ("Enter Sandman", "Metallica"),
    ("Nothing Else Matters", "Metallica"),
    ("November Rain", "Guns N' Roses"),
    ("Wonderwall", "Oasis"),
    ("Creep", "Radiohead"),
    ("Losing My Religion", "R.E.M."),
    ("Zombie", "The Cranberries"),
    ("Torn", "Natalie Imbruglia"),
    ("Wannabe", "Spice Girls"),
    ("...Baby One More Time", "Britney Spears"),
    ("No Scrubs", "TLC"),
    ("Waterfalls", "TLC"),
    ("Gangsta's Paradise", "Coolio"),
    ("California Love", "2Pac"),
    ("Juicy", "The Notorious B.I.G."),
    ("Hypnotize", "The Notorious B.I.G."),
    ('Nuthin\' But A "G" Thang', "Dr. Dre"),
    ("Still D.R.E.", "Dr. Dre"),
    ("In Da Club", "50 Cent"),
    ("Lose Yourself", "Eminem"),
    ("Without Me", "Eminem"),
    ("The Real Slim Shady", "Eminem"),
    ("Hey Ya!", "OutKast"),
    ("Ms. Jackson", "OutKast"),
    ("Crazy in Love", "Beyoncé"),
    ("Single Ladies (Put a Ring on It)", "Beyoncé"),
    ("Yeah!", "Usher"),
    ("Hips Don't Lie", "Shakira"),
    ("Umbrella", "Rihanna"),
    ("Toxic", "Britney Spears"),
    ("Mr. Brightside", "The Killers"),
    ("Seven Nation Army", "The White Stripes"),
    ("Sandstorm", "Darude"),
    ("Levels", "Avicii"),
    ("Wake Me Up", "Avicii"),
    ("Titanium", "David Guetta"),
    ("Clarity", "Zedd"),
    ("Lean On", "Major Lazer"),
    ("Animals", "Martin Garrix"),
    ("Get Lucky", "Daft Punk"),
    ("One More Time", "Daft Punk"),
    ("Around the World", "Daft Punk"),
    ("Rolling in the Deep", "Adele"),
    ("Someone Like You", "Adele"),
    ("Hello", "Adele"),
    ("Uptown Funk", "Mark Ronson"),
    ("Happy", "Pharrell Williams"),
    ("Shape of You", "Ed Sheeran"),
    ("Thinking Out Loud", "Ed Sheeran"),
    ("Perfect", "Ed Sheeran"),
    ("Blinding Lights", "The Weeknd"),
    ("Starboy", "The Weeknd"),
    ("Can't Feel My Face", "The Weeknd"),
    ("Hotline Bling", "Drake"),
    ("God's Plan", "Drake"),
    ("One Dance", "Drake"),
    ("HUMBLE.", "Kendrick Lamar"),
    ("Sicko Mode", "Travis Scott"),
    ("Old Town Road", "Lil Nas X"),
    ("bad guy", "Billie Eilish"),
    ("Despacito", "Luis Fonsi"),
    ("Bailando", "Enrique Iglesias"),
    ("Mi Gente", "J Balvin"),
    ("Gasolina", "Daddy Yankee"),
    ("Dákiti", "Bad Bunny"),
    ("Tusa", "KAROL G"),
    ("Señorita", "Shawn Mendes"),
    ("Closer", "The Chainsmokers"),
    ("Don't Start Now", "Dua Lipa"),
    ("New Rules", "Dua Lipa"),
    ("Dance Monkey", "Tones and I"),
    ("Sunflower", "Post Malone"),
    ("Circles", "Post Malone"),
    ("Rockstar", "Post Malone"),
    ("Havana", "Camila Cabello"),
    ("Thunder", "Imagine Dragons"),
    ("Believer", "Imagine Dragons"),
    ("Radioactive", "Imagine Dragons"),
    ("Viva La Vida", "Coldplay"),
    ("Yellow", "Coldplay"),
    ("The Scientist", "Coldplay"),
    ("Chandelier", "Sia"),
    ("Royals", "Lorde"),
    ("Shake It Off", "Taylor Swift"),
    ("Blank Space", "Taylor Swift"),
    ("Stay With Me", "Sam Smith"),
    ("All of Me", "John Legend"),
    ("Let It Go", "Idina Menzel"),
    ("September", "Earth, Wind & Fire"),
    ("Dancing Queen", "ABBA"),
    ("Stayin' Alive", "Bee Gees"),
    ("I Will Survive", "Gloria Gaynor"),
    ("Le Freak", "CHIC"),
    ("Jolene", "Dolly Parton"),
]

# Written after FAMOUS, to check the choice among songs of one title on other songs.
CLASSICS: list[tuple[str, str]] = [
    ("Yesterday", "The Beatles"),
    ("Let It Be", "The Beatles"),
    ("What's Going On", "Marvin Gaye"),
    ("Ain't No Mountain High Enough", "Marvin Gaye"),
    ("My Girl", "The Temptations"),
    ("Stand by Me", "Ben E. King"),
    ("Dreams", "Fleetwood Mac"),
    ("Go Your Own Way", "Fleetwood Mac"),
    ("Heroes", "David Bowie"),
    ("Let's Dance", "David Bowie"),
    ("Every Breath You Take", "The Police"),
    ("Roxanne", "The Police"),
    ("Sweet Dreams (Are Made of This)", "Eurythmics"),
    ("Girls Just Want to Have Fun", "Cyndi Lauper"),
    ("Time After Time", "Cyndi Lauper"),
    ("Like a Prayer", "Madonna"),
    ("Vogue", "Madonna"),
    ("Material Girl", "Madonna"),
    ("Careless Whisper", "George Michael"),
    ("Faith", "George Michael"),
    ("Tainted Love", "Soft Cell"),
    ("Don't You (Forget About Me)", "Simple Minds"),
    ("Jump", "Van Halen"),
    ("Black", "Pearl Jam"),
    ("Alive", "Pearl Jam"),
    ("Everlong", "Foo Fighters"),
    ("Basket Case", "Green Day"),
    ("Song 2", "Blur"),
    ("Bitter Sweet Symphony", "The Verve"),
    ("Karma Police", "Radiohead"),
    ("No Diggity", "Blackstreet"),
    ("Stan", "Eminem"),
    ("Hot in Herre", "Nelly"),
    ("Halo", "Beyoncé"),
    ("Clocks", "Coldplay"),
    ("Poker Face", "Lady Gaga"),
    ("Bad Romance", "Lady Gaga"),
    ("Firework", "Katy Perry"),
    ("Roar", "Katy Perry"),
    ("Sorry", "Justin Bieber"),
    ("Love Yourself", "Justin Bieber"),
    ("Lucid Dreams", "Juice WRLD"),
    ("Someone You Loved", "Lewis Capaldi"),
    ("Memories", "Maroon 5"),
    ("Sugar", "Maroon 5"),
    ("Roses", "SAINt JHN"),
    ("Faded", "Alan Walker"),
    ("Summer", "Calvin Harris"),
    ("Feel So Close", "Calvin Harris"),
    ("One Kiss", "Calvin Harris"),
    ("Runaway", "Kanye West"),
    ("Stronger", "Kanye West"),
    ("Gold Digger", "Kanye West"),
    ("Crazy", "Gnarls Barkley"),
    ("Smooth", "Santana"),
    ("Kiss", "Prince"),
    ("When Doves Cry", "Prince"),
    ("Beautiful", "Christina Aguilera"),
    ("Genie in a Bottle", "Christina Aguilera"),
    ("Complicated", "Avril Lavigne"),
    ("Iris", "Goo Goo Dolls"),
    ("Everybody Hurts", "R.E.M."),
    ("With or Without You", "U2"),
    ("Paint It Black", "The Rolling Stones"),
    ("Gimme Shelter", "The Rolling Stones"),
    ("Layla", "Derek & The Dominos"),
    ("Stairway to Heaven", "Led Zeppelin"),
    ("Kashmir", "Led Zeppelin"),
    ("Money", "Pink Floyd"),
    ("Wish You Were Here", "Pink Floyd"),
    ("Dream On", "Aerosmith"),
    ("Danza Kuduro", "Don Omar"),
    ("Con Calma", "Daddy Yankee"),
    ("Taki Taki", "DJ Snake"),
    ("Low", "Flo Rida"),
    ("Crank That", "Soulja Boy"),
    ("Empire State of Mind", "JAY-Z"),
    ("Numb", "Linkin Park"),
    ("In the End", "Linkin Park"),
    ("Chop Suey!", "System Of A Down"),
    ("Boulevard of Broken Dreams", "Green Day"),
    ("Mo Money Mo Problems", "The Notorious B.I.G."),
    ("Electric Feel", "MGMT"),
    ("Kids", "MGMT"),
    ("Pumped Up Kicks", "Foster The People"),
    ("Somebody That I Used to Know", "Gotye"),
    ("Counting Stars", "OneRepublic"),
    ("Stressed Out", "Twenty One Pilots"),
    ("Heathens", "Twenty One Pilots"),
    ("Photograph", "Ed Sheeran"),
    ("Let Her Go", "Passenger"),
    ("Riptide", "Vance Joy"),
    ("Ho Hey", "The Lumineers"),
    ("Little Talks", "Of Monsters and Men"),
    ("Sweater Weather", "The Neighbourhood"),
    ("Do I Wanna Know?", "Arctic Monkeys"),
    ("R U Mine?", "Arctic Monkeys"),
    ("Redbone", "Childish Gambino"),
    ("This Is America", "Childish Gambino"),
    ("Alright", "Kendrick Lamar"),
    ("Mask Off", "Future"),
    ("XO Tour Llif3", "Lil Uzi Vert"),
    ("Congratulations", "Post Malone"),
    ("Location", "Khalid"),
    ("Young Dumb & Broke", "Khalid"),
    ("Work", "Rihanna"),
    ("Diamonds", "Rihanna"),
    ("Formation", "Beyoncé"),
    ("Latch", "Disclosure"),
    ("Strobe", "deadmau5"),
    ("Midnight City", "M83"),
    ("In My Feelings", "Drake"),
    ("Nice For What", "Drake"),
    ("Sunday Morning", "Maroon 5"),
    ("Fantasy", "Mariah Carey"),
    ("Always Be My Baby", "Mariah Carey"),
    ("I Will Always Love You", "Whitney Houston"),
    ("I Wanna Dance with Somebody", "Whitney Houston"),
    ("Man in the Mirror", "Michael Jackson"),
    ("Smooth Criminal", "Michael Jackson"),
    ("Rock with You", "Michael Jackson"),
    ("Killing Me Softly", "Fugees"),
    ("Ready or Not", "Fugees"),
    ("Doo Wop (That Thing)", "Lauryn Hill"),
    ("Regulate", "Warren G"),
    ("Shook Ones", "Mobb Deep"),
    ("C.R.E.A.M.", "Wu-Tang Clan"),
    ("Forgot About Dre", "Dr. Dre"),
    ("The Next Episode", "Dr. Dre"),
    ("Sweet Home Alabama", "Lynyrd Skynyrd"),
    ("Free Bird", "Lynyrd Skynyrd"),
    ("Born to Run", "Bruce Springsteen"),
    ("Dancing in the Dark", "Bruce Springsteen"),
    ("You Shook Me All Night Long", "AC/DC"),
    ("Thunderstruck", "AC/DC"),
    ("Paradise City", "Guns N' Roses"),
    ("Welcome to the Jungle", "Guns N' Roses"),
    ("Pour Some Sugar on Me", "Def Leppard"),
    ("Eye of the Tiger", "Survivor"),
    ("Here I Go Again", "Whitesnake"),
    ("Everybody Wants to Rule the World", "Tears For Fears"),
    ("Heart of Glass", "Blondie"),
    ("Call Me", "Blondie"),
    ("Blue Monday", "New Order"),
    ("Just Can't Get Enough", "Depeche Mode"),
    ("Enjoy the Silence", "Depeche Mode"),
    ("Personal Jesus", "Depeche Mode"),
    ("Ghostbusters", "Ray Parker Jr."),
    ("Footloose", "Kenny Loggins"),
    ("Bad", "Michael Jackson"),
    ("Fame", "David Bowie"),
    ("Let's Groove", "Earth, Wind & Fire"),
    ("Boogie Wonderland", "Earth, Wind & Fire"),
    ("Superfreak", "Rick James"),
    ("Got to Give It Up", "Marvin Gaye"),
    ("Lovely Day", "Bill Withers"),
    ("Ain't No Sunshine", "Bill Withers"),
    ("Just the Two of Us", "Grover Washington, Jr."),
    ("Sexual Healing", "Marvin Gaye"),
    ("Higher Ground", "Stevie Wonder"),
    ("Sir Duke", "Stevie Wonder"),
    ("Isn't She Lovely", "Stevie Wonder"),
    ("Boogie Nights", "Heatwave"),
    ("Celebration", "Kool & The Gang"),
    ("Get Down On It", "Kool & The Gang"),
    ("Good Times", "CHIC"),
    ("Rapper's Delight", "The Sugarhill Gang"),
    ("The Message", "Grandmaster Flash"),
    ("Push It", "Salt-N-Pepa"),
    ("Gin and Juice", "Snoop Dogg"),
    ("Drop It Like It's Hot", "Snoop Dogg"),
    ("Big Poppa", "The Notorious B.I.G."),
    ("Dear Mama", "2Pac"),
    ("It Was A Good Day", "Ice Cube"),
    ("Jump Around", "House Of Pain"),
    ("Gettin' Jiggy Wit It", "Will Smith"),
    ("Return of the Mack", "Mark Morrison"),
    ("Bootylicious", "Destiny's Child"),
    ("Say My Name", "Destiny's Child"),
    ("Survivor", "Destiny's Child"),
    ("Hold On", "Wilson Phillips"),
    ("Vision of Love", "Mariah Carey"),
]

# (title, artist) of songs released after the catalog was made, or otherwise not in it.
MISSING: list[tuple[str, str]] = [
    ("Levitating", "Dua Lipa"),
    ("Flowers", "Miley Cyrus"),
    ("Calm Down", "Rema"),
    ("As It Was", "Harry Styles"),
    ("Anti-Hero", "Taylor Swift"),
    ("drivers license", "Olivia Rodrigo"),
    ("good 4 u", "Olivia Rodrigo"),
    ("Stay", "The Kid LAROI"),
    ("Peaches", "Justin Bieber"),
    ("MONTERO (Call Me By Your Name)", "Lil Nas X"),
    ("Easy On Me", "Adele"),
    ("Shivers", "Ed Sheeran"),
    ("Bad Habits", "Ed Sheeran"),
    ("Kill Bill", "SZA"),
    ("Unholy", "Sam Smith"),
    ("About Damn Time", "Lizzo"),
    ("Super Freaky Girl", "Nicki Minaj"),
    ("Titi Me Preguntó", "Bad Bunny"),
    ("Me Porto Bonito", "Bad Bunny"),
    ("Provenza", "KAROL G"),
    ("vampire", "Olivia Rodrigo"),
    ("Paint The Town Red", "Doja Cat"),
    ("Espresso", "Sabrina Carpenter"),
    ("Beautiful Things", "Benson Boone"),
    ("Houdini", "Dua Lipa"),
    ("Lovin On Me", "Jack Harlow"),
    ("First Class", "Jack Harlow"),
    ("INDUSTRY BABY", "Lil Nas X"),
    ("Mood", "24kGoldn"),
    ("Dynamite", "BTS"),
    ("Save Your Tears", "The Weeknd"),
    ("Butter", "BTS"),
    ("Ghost", "Justin Bieber"),
    ("Heat Waves", "Glass Animals"),
]


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def timed_ms(read: Callable[[str], object], texts: list[str]) -> list[float]:
    read(texts[0])  # lookup tables built, as the bot's warm-up does
    samples = []
    for text in texts:
        started = time.perf_counter()
        read(text)
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def same_artist(typed: str, catalog_artist: str) -> bool:
    a, b = normalize(typed), normalize(catalog_artist)
    return a == b or a in b or b in a


def typos(texts: list[str], rng: random.Random) -> list[str]:
    out = []
    for text in texts:
        if len(text) > 4:
            cut = rng.randrange(1, len(text) - 1)
            out.append(text[:cut] + text[cut + 1 :])
    return out


def famous_rate(rec: Recommender, songs: list[tuple[str, str]], label: str) -> float:
    index = rec.index
    by_base: dict[str, list[int]] = {}
    for row, name in enumerate(index.names):
        by_base.setdefault(base_title(name), []).append(row)
    held = named = offered = 0
    misses = []
    for title, artist in songs:
        rows = by_base.get(base_title(title), [])
        if not any(same_artist(artist, index.artist_names[r]) for r in rows):
            continue
        held += 1
        understood = rec.understand(title)
        song = understood.song
        if song is not None and same_artist(artist, song.artist):
            named += 1
            offered += 1
            continue
        if any(same_artist(artist, s.artist) for s in understood.songs[:3]):
            offered += 1
        misses.append(f"{title} -> {understood.summary} (wanted {artist})")
    print(f"{label} by bare title: {len(songs)} typed, {held} in the catalog")
    print(f"  the famous version answered:            {named}/{held} = {named / held:.1%}")
    print(f"  answered or offered among the first 3:  {offered}/{held} = {offered / held:.1%}")
    for miss in misses:
        print(f"    {miss}")
    return named / held


def famous_songs(rec: Recommender) -> tuple[list[str], dict[str, float]]:
    rates = {
        "famous": famous_rate(rec, FAMOUS, "famous songs"),
        "classics": famous_rate(rec, CLASSICS, "more famous songs (CLASSICS)"),
    }
    return [t for t, _ in FAMOUS + CLASSICS], rates


def missing_songs(rec: Recommender) -> tuple[list[str], dict[str, float]]:
    index = rec.index
    artists = rec.index.by_artist
    typed, passed_off, answered, with_artist, lacking = [], 0, 0, 0, 0
    for title, artist in MISSING:
        held = any(
            base_title(index.names[r]) == base_title(title)
            for r in np.flatnonzero([same_artist(artist, a) for a in index.artist_names])
        )
        if held:
            continue  # the catalog has it after all: not a missing song
        lacking += 1
        for text in (f"{title} - {artist}", f"{title} by {artist}"):
            typed.append(text)
            understood = rec.understand(text)
            found = rec.resolve(text).best
            if (
                understood.song is not None and not same_artist(artist, understood.song.artist)
            ) or (found is not None and not same_artist(artist, found.artist)):
                passed_off += 1
                print(f"    passed off: {text} -> {understood.summary}")
            if artists.exact(normalize(artist)) is not None:
                with_artist += 1
                if understood.kind is Reading.MISSING_SONG and understood.artist is not None:
                    answered += same_artist(artist, understood.artist.name)
    print(f"songs the catalog lacks, as 'title - artist' and 'title by artist': {lacking} songs")
    print(f"  answered as another artist's song:      {passed_off} (target 0)")
    print(f"  artist answer when the artist is here:  {answered}/{with_artist}")
    return typed, {"passed_off": passed_off}


def popular_artists(rec: Recommender, count: int = 200) -> tuple[list[str], dict[str, float]]:
    index = rec.index
    codes = index.artist_codes
    total = np.bincount(codes, weights=index.popularity)
    top = np.argsort(-total, kind="stable")[:count]
    catalog = rec.catalog
    genres = catalog.playlists["playlist_genre"].astype(str).to_numpy()
    track_genres: list[set[str]] = [set() for _ in range(len(index))]
    artist_genres: dict[int, Counter[str]] = {}
    for playlist, track in catalog.memberships[["playlist", "track"]].itertuples(index=False):
        track_genres[track].add(genres[playlist])
        artist_genres.setdefault(int(codes[track]), Counter())[genres[playlist]] += 1
    typed, answered, shares = [], 0, []
    for code in top.tolist():
        name = rec.index.by_artist.name[code]
        text = name.lower()
        typed.append(text)
        understood = rec.understand(text)
        if understood.kind is not Reading.ARTIST or understood.artist is None:
            print(f"    not an artist answer: {text!r} -> {understood.summary}")
            continue
        if normalize(understood.artist.name) != normalize(name):
            print(f"    another artist: {text!r} -> {understood.artist.name}")
            continue
        answered += 1
        main = artist_genres[code].most_common(1)[0][0]
        picks = rec.recommend_for_artist(understood.artist, 10, artist_cap=DEFAULT_ARTIST_CAP)
        rows = [index.row_of[p.track_id] for p in picks]
        shares.append(sum(main in track_genres[r] for r in rows) / max(len(rows), 1))
    print(f"the catalog's {count} most popular artists typed alone")
    print(f"  artist answer:                          {answered}/{count} = {answered / count:.1%}")
    print(f"  picks in the artist's main genre:       {np.mean(shares) * 10:.1f}/10 on average")
    return typed, {"artists": answered / count, "genre": float(np.mean(shares))}


def latency(rec: Recommender, texts: list[str], label: str) -> None:
    """`understand`'s latency, and the title lookup alone (`TitleIndex.resolve`, what
    reading a song cost before artists were read) over the same texts, for a busy machine."""
    samples = timed_ms(rec.understand, texts)
    titles = timed_ms(rec.index.search.resolve, texts)
    print(
        f"understand at {label}: {len(texts)} texts, p50 {percentile(samples, 50):.2f} ms, "
        f"p99 {percentile(samples, 99):.2f} ms (title lookup alone: p50 "
        f"{percentile(titles, 50):.2f} ms, p99 {percentile(titles, 99):.2f} ms)"
    )


def big_catalog(seed: int) -> Recommender:
    from recommender import synthetic
    from recommender.data import catalog_from_rows

    catalog = catalog_from_rows(synthetic.generate("3.3M", seed=seed))
    rng = np.random.default_rng(seed)
    embeddings = rng.normal(size=(catalog.num_tracks, 32)).astype(np.float32)
    with tempfile.TemporaryDirectory() as directory:
        Recommender(catalog, embeddings, {"params": {"seed": seed}}).save(Path(directory) / "m")
        rec = Recommender.load(Path(directory) / "m")
        # What the bot's warm-up thread builds after a load, for reading text.
        rec.index.search.warm_up()
        rec.index.by_artist.warm_up()
    return rec


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, help="a saved model (default: train one)")
    parser.add_argument("--big", action="store_true", help="also time ~400k tracks")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.model:
        rec = Recommender.load(args.model)
    else:
        print("training the default model on the real catalog ...", flush=True)
        rec = Recommender.train(REPO.parent / "shared/data/spotify_songs.csv", progress=False)
    rec.warm_up()
    rng = random.Random(args.seed)
    texts: list[str] = []
    for part in (famous_songs, missing_songs, popular_artists):
        typed, _ = part(rec)
        texts += typed
    texts += typos(texts, rng)
    latency(rec, texts, f"the real catalog ({len(rec)} tracks)")
    if args.big:
        big = big_catalog(args.seed)
        tracks = big.catalog.tracks
        sample = tracks.sample(n=1000, random_state=args.seed)
        names = sample["track_name"].astype(str).tolist()
        artists = sample["track_artist"].astype(str).str.lower().tolist()
        made = [*names, *(f"{n} - {a}" for n, a in zip(names, artists, strict=True)), *artists]
        made += typos(made, rng) + texts
        latency(big, made, f"a synthetic catalog ({len(big)} tracks)")


if __name__ == "__main__":
    main()
