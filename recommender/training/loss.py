"""The default model's objective: find the memberships a step hid from the graph.

Like PyTorch Geometric's `LightGCN.recommendation_loss`, the loss is an object of its own
(the trainer builds it once per run), here a sampled softmax over cosine similarities in
up to three parts, each a question a member's answer depends on:

1. the playlist picks out its hidden track;
2. a visible member of the playlist picks it out, on the vectors `similar` serves
   (`track_weight`; with `artist_negatives`, songs by the member's own artist that the
   playlist lacks are among the wrong answers);
3. a visible member by another artist picks it out (`other_artist_weight`), what a list
   spread over artists needs.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from recommender.training.config import HeteroLightGCNConfig
from recommender.training.graph import HeteroGraph
from recommender.training.models import identity_vectors, sampled_softmax_loss
from recommender.training.sampling import (
    sample_artist_mates,
    sample_members,
    sample_other_artist_members,
)


class MembershipLoss:
    """Sampled-softmax loss for batches of hidden (playlist, track) memberships of one
    graph; `vectors` gives the vectors `similar` serves, for the rows asked only."""

    def __init__(
        self, graph: HeteroGraph, config: HeteroLightGCNConfig, generator: torch.Generator
    ) -> None:
        tracks, playlists = graph.membership
        self.num_tracks = graph.num_tracks
        self.num_playlists = graph.num_playlists
        self.config = config
        self.generator = generator
        self.artist_nodes = torch.where(
            graph.main_artist >= 0, graph.main_artist + graph.artist_offset, -1
        )
        self.album_nodes = torch.where(graph.album >= 0, graph.album + graph.album_offset, -1)
        self.artist_of = graph.main_artist
        self.member_keys = torch.sort(tracks * self.num_playlists + playlists).values

    def is_member(self, candidates: torch.Tensor, in_playlists: torch.Tensor) -> torch.Tensor:
        """[len(in_playlists), len(candidates)]: is the candidate in that playlist (training)."""
        keys = candidates[None, :] * self.num_playlists + in_playlists[:, None]
        at = torch.searchsorted(self.member_keys, keys).clamp(max=len(self.member_keys) - 1)
        return self.member_keys[at] == keys

    def vectors(self, z: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        """The vectors `similar` serves, for track rows `rows` only (cheap backward)."""
        return identity_vectors(
            z, rows, self.artist_nodes[rows], self.album_nodes[rows], self.config.identity_weight
        )

    def __call__(
        self,
        z: torch.Tensor,
        target_tracks: torch.Tensor,
        target_playlists: torch.Tensor,
        visible_tracks: torch.Tensor,
        visible_playlists: torch.Tensor,
    ) -> torch.Tensor:
        """The loss of one batch of hidden memberships, given the step's propagation `z`
        and the memberships it left visible."""
        config, generator, num_tracks = self.config, self.generator, self.num_tracks
        size = len(target_tracks)
        candidates = torch.cat(
            [target_tracks, torch.randint(0, num_tracks, (config.negatives,), generator=generator)]
        )
        same_playlist = torch.zeros(size, len(candidates), dtype=torch.bool)
        same_playlist[:, :size] = target_playlists[:, None] == target_playlists[None, :]
        same_playlist[:, :size].fill_diagonal_(False)
        target = torch.arange(size)
        # (1) the playlist picks out its hidden track
        loss = sampled_softmax_loss(
            F.normalize(z[num_tracks + target_playlists], dim=1),
            F.normalize(z[candidates], dim=1),
            target,
            same_playlist,
            config.temperature,
        )
        if config.track_weight <= 0:
            return loss
        # (2) a visible member of the playlist picks it out, on the vectors `similar` serves
        anchors, has_anchor = sample_members(
            visible_tracks, visible_playlists, target_playlists, generator
        )
        anchors, target = anchors[has_anchor], target[has_anchor]
        banned = same_playlist[has_anchor] | (anchors[:, None] == candidates[None, :])
        track_candidates = candidates
        if config.artist_negatives > 0:
            # Songs by the anchor's own artist that its playlist does not hold: without
            # them the easiest way to rank a playlist's songs is by the anchor's artist.
            mates, has_mate = sample_artist_mates(
                anchors[: config.artist_negatives], self.artist_of, generator
            )
            mates = mates[has_mate]
            track_candidates = torch.cat([candidates, mates])
            banned = torch.cat([banned, self.is_member(mates, target_playlists[has_anchor])], dim=1)
        served = self.vectors(z, torch.cat([anchors, track_candidates]))
        loss = loss + config.track_weight * sampled_softmax_loss(
            served[: len(anchors)], served[len(anchors) :], target, banned, config.temperature
        )
        if config.other_artist_weight <= 0:
            return loss
        # (3) a visible member by another artist picks it out: what a list spread over
        # artists needs, since only two of its songs may share the query's artist.
        others, has_other = sample_other_artist_members(
            visible_tracks,
            visible_playlists,
            target_playlists,
            self.artist_of[target_tracks],
            self.artist_of,
            generator,
        )
        others, target = others[has_other], torch.arange(size)[has_other]
        banned = same_playlist[has_other] | (others[:, None] == candidates[None, :])
        served = self.vectors(z, torch.cat([others, candidates]))
        return loss + config.other_artist_weight * sampled_softmax_loss(
            served[: len(others)], served[len(others) :], target, banned, config.temperature
        )
