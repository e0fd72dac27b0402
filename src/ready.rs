//! What the modalities taking part in the segmentation have ready for the chips on screen —
//! the one place the page gathers them, for the classification and for the clustering that
//! proposes classes.

use std::borrow::Cow;
use std::rc::Rc;
use std::sync::Arc;

use chipscope_core::embeddings::Embeddings;
use chipscope_core::fusion::{Fusion, Modality, joined_vectors};
use chipscope_core::pipeline::ChipMeasure;
use leptos::prelude::*;

use crate::app::AppState;
use crate::atoms::{AtomGrid, AtomState};
use crate::embedding::{EmbeddingKey, EmbeddingState};
use crate::spectra::{SpectraState, SpectralVectors};

/// What the modalities taking part have ready for the chips on screen: the image's embeddings
/// with their key, the atom columns' g(r), the spectral vectors.
pub struct Ready {
    plan: Vec<Modality>,
    /// The image's embeddings and their cache key, when the image takes part.
    pub image: Option<(Rc<Embeddings>, EmbeddingKey)>,
    atoms: Option<Arc<AtomGrid>>,
    spectra: Option<Arc<SpectralVectors>>,
}

/// Which measurements a [`Ready`] holds, compared by identity (kept alive, so a new
/// measurement can never take an old one's address).
#[derive(Clone)]
pub struct Identity {
    image: Option<Rc<Embeddings>>,
    atoms: Option<Arc<AtomGrid>>,
    spectra: Option<Arc<SpectralVectors>>,
}

impl PartialEq for Identity {
    fn eq(&self, other: &Self) -> bool {
        fn same<P: std::ops::Deref>(a: &Option<P>, b: &Option<P>) -> bool {
            match (a, b) {
                (Some(a), Some(b)) => std::ptr::eq(&**a, &**b),
                (None, None) => true,
                _ => false,
            }
        }
        same(&self.image, &other.image)
            && same(&self.atoms, &other.atoms)
            && same(&self.spectra, &other.spectra)
    }
}

impl Ready {
    /// Which measurements these are.
    pub fn identity(&self) -> Identity {
        Identity {
            image: self
                .image
                .as_ref()
                .map(|(embeddings, _)| embeddings.clone()),
            atoms: self.atoms.clone(),
            spectra: self.spectra.clone(),
        }
    }

    /// The modalities taking part, those weighted and ready (atom columns found, spectral
    /// vectors computed), else the image (read tracked); `None` when the image takes part and
    /// its chips are not embedded.
    pub fn gather(
        fusion: &Fusion,
        app: AppState,
        embedding: EmbeddingState,
        atoms: AtomState,
        spectra: SpectraState,
    ) -> Option<Self> {
        let atom_grid = atoms.grid.get();
        let spectral = spectra.current_vectors();
        let plan = fusion.taking_part(|modality| match modality {
            Modality::Image => true,
            Modality::Atoms => atom_grid.is_some(),
            Modality::Spectra => spectral.is_some(),
        });
        let image = match plan.contains(&Modality::Image) {
            true => Some(
                embedding
                    .current_key(&app)
                    .and_then(|key| Some((embedding.embeddings(&key)?, key)))?,
            ),
            false => None,
        };
        Some(Self {
            plan,
            image,
            atoms: atom_grid,
            spectra: spectral,
        })
    }

    /// Every chip's vectors as concatenated fusion joins the modalities taking part with
    /// `fusion`'s weights ([`joined_vectors`]): what clustering compares.
    pub fn joined_vectors(&self, fusion: &Fusion) -> Cow<'_, Embeddings> {
        let measured = self.measures();
        let blocks: Vec<_> = measured
            .iter()
            .map(|m| (fusion.weight(m.modality), m.vectors))
            .collect();
        joined_vectors(&blocks)
    }

    /// Every chip measured by each modality taking part, in the plan's order.
    pub fn measures(&self) -> Vec<ChipMeasure<'_>> {
        self.plan
            .iter()
            .filter_map(|modality| match modality {
                Modality::Image => self
                    .image
                    .as_ref()
                    .map(|(embeddings, _)| ChipMeasure::euclidean(Modality::Image, embeddings)),
                Modality::Atoms => self
                    .atoms
                    .as_ref()
                    .map(|atoms| ChipMeasure::atoms(&atoms.chips, &atoms.quantiles)),
                Modality::Spectra => self
                    .spectra
                    .as_ref()
                    .map(|spectral| ChipMeasure::euclidean(Modality::Spectra, &spectral.vectors)),
            })
            .collect()
    }
}
