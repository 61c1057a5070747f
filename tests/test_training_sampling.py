"""What the training objective samples to teach songs by other artists (`training/sampling.py`)."""

from __future__ import annotations

import torch

from recommender.training.sampling import sample_artist_mates, sample_other_artist_members

# Six tracks: artist 0 has tracks 0-2, artist 1 has tracks 3-4, track 5 has no artist node.
ARTIST_OF = torch.tensor([0, 0, 0, 1, 1, -1])
# Playlist 0 holds tracks 0, 1, 3; playlist 1 holds only artist 0's tracks 0 and 2.
TRACKS = torch.tensor([0, 1, 3, 0, 2])
PLAYLISTS = torch.tensor([0, 0, 0, 1, 1])


def test_the_visible_member_asked_is_by_another_artist_than_the_hidden_song() -> None:
    generator = torch.Generator().manual_seed(0)
    wanted = torch.tensor([0] * 50 + [1] * 50)
    avoid = torch.zeros(100, dtype=torch.long)  # every hidden song is by artist 0
    members, found = sample_other_artist_members(
        TRACKS, PLAYLISTS, wanted, avoid, ARTIST_OF, generator, tries=8
    )
    # Playlist 0's only other-artist member is track 3 (found unless every draw missed
    # it); playlist 1 has none.
    assert (members[:50][found[:50]] == 3).all() and found[:50].float().mean() > 0.8
    assert not found[50:].any()


def test_artist_mates_are_other_songs_by_the_same_artist() -> None:
    generator = torch.Generator().manual_seed(0)
    anchors = torch.tensor([0, 1, 3, 5] * 25)
    mates, found = sample_artist_mates(anchors, ARTIST_OF, generator)
    assert (ARTIST_OF[mates[found]] == ARTIST_OF[anchors[found]]).all()
    assert (mates[found] != anchors[found]).all()
    assert not found[anchors == 5].any()  # a song with no artist node has no mates
    assert found[anchors == 0].sum() > 0 and found[anchors == 3].sum() > 0
