//! The chips × dim matrix every modality measures chips into: CNN embeddings, atom g(r)
//! quantiles, spectral vectors. Classification and fusion work on it whatever made it.

/// Chip vectors in grid order: `count × dim` values, one row per chip.
#[derive(Clone, Debug, PartialEq)]
pub struct Embeddings {
    /// Length of one chip's vector.
    pub dim: usize,
    /// The vectors one after another, chip 0 first.
    pub values: Vec<f32>,
}

impl Embeddings {
    /// Number of embedded chips.
    pub fn count(&self) -> usize {
        self.values.len().checked_div(self.dim).unwrap_or(0)
    }

    /// The embedding of chip `index`.
    pub fn row(&self, index: usize) -> &[f32] {
        &self.values[index * self.dim..(index + 1) * self.dim]
    }

    /// The rows `indices`, in that order.
    pub fn gather(&self, indices: impl IntoIterator<Item = usize>) -> Embeddings {
        Embeddings {
            dim: self.dim,
            values: indices
                .into_iter()
                .flat_map(|i| self.row(i).iter().copied())
                .collect(),
        }
    }

    /// Embeddings with the given rows (all of one length), for tests.
    #[cfg(test)]
    pub(crate) fn from_rows(rows: &[&[f32]]) -> Embeddings {
        Embeddings {
            dim: rows[0].len(),
            values: rows.iter().flat_map(|r| r.iter().copied()).collect(),
        }
    }
}
