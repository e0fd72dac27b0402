//! The chips × dim matrix every modality measures chips into: CNN embeddings, atom g(r)
//! quantiles, spectral vectors. Classification and fusion work on it whatever made it.

/// Chip vectors in grid order: `count × dim` values, one row per chip.
#[derive(Clone, Debug, PartialEq)]
pub struct Embeddings {
    pub dim: usize,
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

    /// Embeddings with the given rows (all of one length), for tests.
    #[cfg(test)]
    pub(crate) fn from_rows(rows: &[&[f32]]) -> Embeddings {
        Embeddings {
            dim: rows[0].len(),
            values: rows.iter().flat_map(|r| r.iter().copied()).collect(),
        }
    }
}
