"""Graph neural networks over the playlist–track graph. Small nn.Modules, nothing else."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch_geometric.nn import GCNConv


class SeedGCN(nn.Module):
    """The seed design: audio features on tracks, learnable playlist vectors, two GCN layers."""

    def __init__(
        self,
        num_playlists: int,
        feature_dim: int,
        hidden_dim: int = 128,
        out_dim: int = 64,
        dropout: float = 0.5,
    ) -> None:
        super().__init__()
        self.playlist_embedding = nn.Embedding(num_playlists, feature_dim)
        nn.init.normal_(self.playlist_embedding.weight, std=0.1)
        self.conv1 = GCNConv(feature_dim, hidden_dim, cached=True)
        self.conv2 = GCNConv(hidden_dim, out_dim, cached=True)
        self.dropout = dropout

    def forward(self, track_x: torch.Tensor, edge_index: torch.Tensor) -> torch.Tensor:
        x = torch.cat([track_x, self.playlist_embedding.weight], dim=0)
        x = F.relu(self.conv1(x, edge_index))
        x = F.dropout(x, p=self.dropout, training=self.training)
        return self.conv2(x, edge_index)


def link_loss(z: torch.Tensor, positive: torch.Tensor, negative: torch.Tensor) -> torch.Tensor:
    """Log-sigmoid loss: observed (track, playlist) pairs up, sampled unobserved pairs down."""
    pos = (z[positive[0]] * z[positive[1]]).sum(dim=-1)
    neg = (z[negative[0]] * z[negative[1]]).sum(dim=-1)
    return -(F.logsigmoid(pos).mean() + F.logsigmoid(-neg).mean())


class HeteroLightGCN(nn.Module):
    """LightGCN over playlist–track–artist–album nodes; tracks start from their content.

    Playlists, artists and albums have learnable ID vectors. Tracks have none: a track's
    starting vector is an MLP of its own content features, so a catalog-only track is
    embedded like any other. K rounds of normalised neighbour averaging (no weights, no
    non-linearity, as in LightGCN) and the mean over rounds give every node's embedding.
    """

    def __init__(
        self,
        feature_dim: int,
        num_playlists: int,
        num_artists: int,
        num_albums: int,
        dim: int = 64,
        hidden_dim: int = 128,
        num_layers: int = 3,
    ) -> None:
        super().__init__()
        self.encoder = nn.Sequential(
            nn.Linear(feature_dim, hidden_dim), nn.ReLU(), nn.Linear(hidden_dim, dim)
        )
        self.playlist = nn.Embedding(num_playlists, dim)
        self.artist = nn.Embedding(num_artists, dim)
        self.album = nn.Embedding(num_albums, dim)
        for table in (self.playlist, self.artist, self.album):
            nn.init.normal_(table.weight, std=0.1)
        self.num_layers = num_layers

    def forward(self, track_x: torch.Tensor, adjacency: torch.Tensor) -> torch.Tensor:
        h = torch.cat(
            [self.encoder(track_x), self.playlist.weight, self.artist.weight, self.album.weight]
        )
        out = h
        for _ in range(self.num_layers):
            h = torch.sparse.mm(adjacency, h)
            out = out + h
        return out / (self.num_layers + 1)


def identity_vectors(
    z: torch.Tensor,
    rows: torch.Tensor,
    artist_nodes: torch.Tensor,
    album_nodes: torch.Tensor,
    weight: float,
) -> torch.Tensor:
    """Unit vectors for track nodes `rows`, with their artist and album embeddings appended.

    Same artist or album then adds about `weight`² to the cosine (the "same-artist"
    reference's bonus, but learned: related artists are close too). `artist_nodes` and
    `album_nodes` give each row's node, -1 when the track has none (zeros there).
    """
    parts = [F.normalize(z[rows], dim=1)]
    for nodes in (artist_nodes, album_nodes):
        vectors = F.normalize(z[nodes.clamp(min=0)], dim=1)
        parts.append(weight * vectors * (nodes >= 0).unsqueeze(1))
    return F.normalize(torch.cat(parts, dim=1), dim=1)


def sampled_softmax_loss(
    query: torch.Tensor,
    candidates: torch.Tensor,
    target: torch.Tensor,
    banned: torch.Tensor,
    temperature: float,
) -> torch.Tensor:
    """Cross-entropy of each query against its target among all candidates (cosine / τ).

    Inputs are unit vectors. `banned` masks pairs that must not count as negatives
    (another hidden track of the same playlist, the query track itself).
    """
    logits = (query / temperature) @ candidates.T
    logits = logits.masked_fill(banned, -1e4)
    return F.cross_entropy(logits, target)
