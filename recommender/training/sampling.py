"""What the default model's objective samples: a member of each playlist, one by another
artist, a song by the same artist. Every draw comes from the generator passed in, so a
seeded run draws the same songs."""

from __future__ import annotations

import torch


def sample_members(
    tracks: torch.Tensor, playlists: torch.Tensor, wanted: torch.Tensor, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """One random member track of each wanted playlist (and whether it has any)."""
    if tracks.numel() == 0:
        return torch.zeros_like(wanted), torch.zeros_like(wanted, dtype=torch.bool)
    order = torch.argsort(playlists, stable=True)
    sorted_playlists, sorted_tracks = playlists[order], tracks[order]
    start = torch.searchsorted(sorted_playlists, wanted)
    count = torch.searchsorted(sorted_playlists, wanted, right=True) - start
    pick = (torch.rand(len(wanted), generator=generator) * count.clamp(min=1)).long()
    return sorted_tracks[(start + pick).clamp(max=len(sorted_tracks) - 1)], count > 0


def sample_other_artist_members(
    tracks: torch.Tensor,
    playlists: torch.Tensor,
    wanted: torch.Tensor,
    avoid: torch.Tensor,
    artist_of: torch.Tensor,
    generator: torch.Generator,
    tries: int = 4,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One random member of each wanted playlist by an artist other than `avoid`'s.

    `avoid` is an artist code per wanted playlist (-1: none, any member will do). Members
    are drawn `tries` times; a playlist whose draws all share the artist has none.
    """
    picked = torch.zeros_like(wanted)
    found = torch.zeros_like(wanted, dtype=torch.bool)
    for _ in range(tries):
        members, has = sample_members(tracks, playlists, wanted, generator)
        artist = artist_of[members]
        other = has & ~found & ((artist != avoid) | (avoid < 0) | (artist < 0))
        picked = torch.where(other, members, picked)
        found |= other
    return picked, found


def sample_artist_mates(
    anchors: torch.Tensor, artist_of: torch.Tensor, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """A random other track by each anchor's artist (and whether it has one)."""
    rows = torch.arange(len(artist_of))
    has_artist = artist_of >= 0
    mates, found = sample_members(
        rows[has_artist], artist_of[has_artist], artist_of[anchors].clamp(min=0), generator
    )
    found &= (artist_of[anchors] >= 0) & (mates != anchors)
    return mates, found
