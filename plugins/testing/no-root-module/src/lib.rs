//! A plain cdylib that exports no keyward root module. The loader must refuse it with
//! `LoadError::MissingRootModule`.

/// Something for the library to contain.
pub fn answer() -> u32 {
    42
}
