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
