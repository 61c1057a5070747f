"""The playlist–track graph as PyTorch Geometric expects it.

Node numbering: tracks are 0..T-1 (the catalog's row order), playlists T..T+P-1.
Catalog-only tracks are nodes with no edges; self-loops in GCNConv still embed them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
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


# -- playlist–track–artist–album graph for hetero-lightgcn ---------------------------------
# "Song (feat. A & B)", "Song (with A)", "Song - A Remix": credited artists link a track to
# more artist nodes, which is how a remix in a remix playlist finds its neighbours.
_CREDIT = re.compile(
    r"(?:feat\.?|ft\.?|featuring|with)\s+([^()\[\]\-]+)"
    r"|[-(\[]\s*([^()\[\]\-]+?)\s+(?:remix|edit|rework|bootleg|vip)\b",
    re.IGNORECASE,
)
_NAME_SPLIT = re.compile(r",|&| x | and ", re.IGNORECASE)


def artist_links(
    tracks: pd.DataFrame, *, credits: bool = True, min_tracks: int = 2
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """(track row, artist code) links: the main artist plus known artists credited in the title.

    Artists with fewer than `min_tracks` links get no node (a node seen once carries no
    signal). Returns rows, codes, the main artist's code per track (-1: none) and the count.
    """
    main = tracks["track_artist"].astype(str).str.lower().to_numpy()
    rows = list(range(len(tracks)))
    names = list(main)
    if credits:
        known = set(main)
        for row, title in enumerate(tracks["track_name"].astype(str)):
            for match in _CREDIT.finditer(title):
                for part in _NAME_SPLIT.split(match.group(1) or match.group(2) or ""):
                    name = part.strip().lower()
                    if name in known and name != main[row]:
                        rows.append(row)
                        names.append(name)
    codes, uniques = pd.factorize(pd.Series(names, dtype=object))
    counts = np.bincount(codes, minlength=len(uniques))
    remap = np.full(len(uniques), -1, dtype=np.int64)
    kept = counts >= min_tracks
    remap[kept] = np.arange(int(kept.sum()))
    codes = remap[codes]
    main_codes = codes[: len(tracks)].copy()
    link_rows = np.asarray(rows, dtype=np.int64)
    keep = codes >= 0
    return link_rows[keep], codes[keep], main_codes, int(kept.sum())


def entity_codes(values: pd.Series, min_tracks: int = 2) -> tuple[np.ndarray, int]:
    """A node number per value shared by >= `min_tracks` tracks, -1 for the rest."""
    codes, uniques = pd.factorize(values)
    counts = np.bincount(codes, minlength=len(uniques))
    remap = np.full(len(uniques), -1, dtype=np.int64)
    kept = counts >= min_tracks
    remap[kept] = np.arange(int(kept.sum()))
    return remap[codes], int(kept.sum())


def normalized_adjacency(
    src: torch.Tensor,
    dst: torch.Tensor,
    num_nodes: int,
    weight: torch.Tensor | None = None,
    normalization: str = "mean",
) -> torch.Tensor:
    """Propagation matrix of an undirected (weighted) edge list.

    "mean" (D^-1 A): every node becomes the average of its neighbours, so a track's
    playlist counts as much as its artist even though the playlist has 100 members.
    "sym" (D^-1/2 A D^-1/2) is LightGCN's original choice.
    """
    row = torch.cat([src, dst])
    col = torch.cat([dst, src])
    weight = torch.ones(len(src)) if weight is None else weight
    weight = torch.cat([weight, weight])
    degree = torch.zeros(num_nodes).index_add_(0, row, weight).clamp(min=1e-12)
    if normalization == "sym":
        values = weight * degree[row].rsqrt() * degree[col].rsqrt()
    elif normalization == "mean":
        values = weight / degree[row]
    else:
        raise ValueError(f"unknown normalization {normalization!r}")
    return torch.sparse_coo_tensor(
        torch.stack([row, col]), values, (num_nodes, num_nodes), check_invariants=False
    ).coalesce()


@dataclass
class HeteroGraph:
    """Node layout: tracks | playlists | artists | albums.

    Membership edges are kept apart from the fixed track–artist/album edges so training
    can hide some of them each epoch (the hold-out in miniature).
    """

    track_x: torch.Tensor
    membership: torch.Tensor  # [2, E]: track row, playlist row
    static_edges: torch.Tensor  # [2, S]: track node, artist/album node
    main_artist: torch.Tensor  # [T]: artist row or -1
    album: torch.Tensor  # [T]: album row or -1
    num_tracks: int
    num_playlists: int
    num_artists: int
    num_albums: int
    artist_playlist_edges: bool = False
    membership_weight: float = 1.0
    normalization: str = "mean"

    @property
    def num_nodes(self) -> int:
        return self.num_tracks + self.num_playlists + self.num_artists + self.num_albums

    @property
    def artist_offset(self) -> int:
        return self.num_tracks + self.num_playlists

    @property
    def album_offset(self) -> int:
        return self.artist_offset + self.num_artists

    def to(self, device: str | torch.device) -> HeteroGraph:
        """The same graph with its tensors on `device` (a GPU for training there)."""
        return replace(
            self,
            track_x=self.track_x.to(device),
            membership=self.membership.to(device),
            static_edges=self.static_edges.to(device),
            main_artist=self.main_artist.to(device),
            album=self.album.to(device),
        )

    def adjacency(self, keep: torch.Tensor | None = None) -> torch.Tensor:
        """Propagation matrix using only the membership edges selected by `keep`.

        Artist–playlist edges are derived from the kept memberships only, so a hidden
        membership cannot come back through its artist.
        """
        membership = self.membership if keep is None else self.membership[:, keep]
        tracks, playlists = membership
        src = [tracks, self.static_edges[0]]
        dst = [playlists + self.num_tracks, self.static_edges[1]]
        if self.artist_playlist_edges:
            artist = self.main_artist[tracks]
            has = artist >= 0
            pairs = torch.unique(artist[has] * self.num_playlists + playlists[has])
            src.append(pairs // self.num_playlists + self.artist_offset)
            dst.append(pairs % self.num_playlists + self.num_tracks)
        weight = torch.ones(sum(len(part) for part in src))
        weight[: len(tracks)] = self.membership_weight
        return normalized_adjacency(
            torch.cat(src), torch.cat(dst), self.num_nodes, weight, self.normalization
        )


def build_hetero_graph(
    catalog: Catalog,
    track_features: torch.Tensor,
    *,
    credits: bool = True,
    min_tracks: int = 2,
    artist_playlist_edges: bool = False,
    membership_weight: float = 1.0,
    normalization: str = "mean",
) -> HeteroGraph:
    """Playlists, tracks, artists and albums: a catalog-only track is linked from day one."""
    link_rows, link_codes, main_artist, num_artists = artist_links(
        catalog.tracks, credits=credits, min_tracks=min_tracks
    )
    album, num_albums = entity_codes(catalog.tracks["track_album_id"], min_tracks)
    artist_offset = catalog.num_tracks + catalog.num_playlists
    track_rows = np.arange(catalog.num_tracks)
    has_album = album >= 0
    static = np.stack(
        [
            np.concatenate([link_rows, track_rows[has_album]]),
            np.concatenate(
                [link_codes + artist_offset, album[has_album] + artist_offset + num_artists]
            ),
        ]
    )
    return HeteroGraph(
        track_x=track_features,
        membership=membership_pairs(catalog).sub(torch.tensor([[0], [catalog.num_tracks]])),
        static_edges=torch.from_numpy(static),
        main_artist=torch.from_numpy(main_artist),
        album=torch.from_numpy(album),
        num_tracks=catalog.num_tracks,
        num_playlists=catalog.num_playlists,
        num_artists=num_artists,
        num_albums=num_albums,
        artist_playlist_edges=artist_playlist_edges,
        membership_weight=membership_weight,
        normalization=normalization,
    )
