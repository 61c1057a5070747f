"""The playlist–track graph as PyTorch Geometric expects it.

Node numbering: tracks are 0..T-1 (the catalog's row order), playlists T..T+P-1.
Catalog-only tracks are nodes with no edges; self-loops in GCNConv still embed them.
"""

from __future__ import annotations

import torch
from torch_geometric.data import Data
from torch_geometric.utils import to_undirected

from recommender.data import Catalog


def membership_pairs(catalog: Catalog) -> torch.Tensor:
    """(track node, playlist node) pairs, one column per membership: shape [2, E]."""
    tracks = torch.tensor(catalog.memberships["track"].to_numpy(), dtype=torch.long)
    playlists = torch.tensor(catalog.memberships["playlist"].to_numpy(), dtype=torch.long)
    return torch.stack([tracks, playlists + catalog.num_tracks])


def build_graph(catalog: Catalog, track_features: torch.Tensor) -> Data:
    """Bipartite graph with one undirected edge per playlist membership."""
    pairs = membership_pairs(catalog)
    num_nodes = catalog.num_tracks + catalog.num_playlists
    return Data(
        track_x=track_features,
        edge_index=to_undirected(pairs, num_nodes=num_nodes),
        pairs=pairs,
        num_nodes=num_nodes,
        num_tracks=catalog.num_tracks,
        num_playlists=catalog.num_playlists,
    )
