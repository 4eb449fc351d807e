//! Where the GPU backends keep compiled kernels and autotune results between runs.
//!
//! CubeCL (under burn's `cuda`, `vulkan`, `wgpu` and `metal` backends) compiles every
//! kernel at its first use and, with `autotune`, benchmarks candidate kernels for every
//! new shape. By default it keeps no compiled kernel between runs and puts autotune
//! results in the `target/` folder of the nearest Cargo project, so every run of a
//! search pays the compilation again (docs/GPU.md, section 4). Unless the user has a
//! CubeCL configuration of their own (`cubecl.toml`, or a `[cubecl]` section of
//! `burn.toml`, in the working directory or above), `entrannas` keeps both in one
//! folder of the user's cache: `$ENTRANNAS_KERNEL_CACHE`, else
//! `$XDG_CACHE_HOME/entrannas/kernels`, else `~/.cache/entrannas/kernels`.
//! `ENTRANNAS_KERNEL_CACHE=off` leaves CubeCL's defaults.

use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};

/// The variable that names the kernel cache folder, or `off`.
pub const ENV_VAR: &str = "ENTRANNAS_KERNEL_CACHE";

/// Files in which CubeCL looks for its configuration, in each folder from the working
/// directory up; `true` where only a `[cubecl]` section of the file counts.
const CONFIG_FILES: [(&str, bool); 4] = [
    ("cubecl.toml", false),
    ("CubeCL.toml", false),
    ("burn.toml", true),
    ("Burn.toml", true),
];

/// Where the GPU backends' kernel and autotune caches go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KernelCache {
    /// `entrannas` sets CubeCL's caches to `compilation/` and `autotune/` in this folder.
    Folder(PathBuf),
    /// The user's CubeCL configuration file decides (nothing is overridden).
    UserConfig(PathBuf),
    /// CubeCL's own defaults: `ENTRANNAS_KERNEL_CACHE=off`, or no cache folder is known.
    CubeclDefault,
}

impl KernelCache {
    /// The cache for a process started in `cwd` with the environment `var`.
    pub fn resolve(cwd: &Path, var: impl Fn(&str) -> Option<OsString>) -> Self {
        if let Some(file) = user_config(cwd) {
            return Self::UserConfig(file);
        }
        let nonempty = |name: &str| var(name).filter(|v| !v.is_empty());
        if let Some(dir) = nonempty(ENV_VAR) {
            return if dir == "off" {
                Self::CubeclDefault
            } else {
                Self::Folder(PathBuf::from(dir))
            };
        }
        if let Some(cache) = nonempty("XDG_CACHE_HOME") {
            return Self::Folder(PathBuf::from(cache).join("entrannas").join("kernels"));
        }
        match nonempty("HOME") {
            Some(home) => Self::Folder(
                PathBuf::from(home)
                    .join(".cache")
                    .join("entrannas")
                    .join("kernels"),
            ),
            None => Self::CubeclDefault,
        }
    }

    /// The cache for this process (its working directory and environment).
    pub fn current() -> Self {
        match std::env::current_dir() {
            Ok(cwd) => Self::resolve(&cwd, |name| std::env::var_os(name)),
            Err(_) => Self::CubeclDefault,
        }
    }
}

impl fmt::Display for KernelCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Folder(dir) => write!(f, "{} (set {ENV_VAR}=off for CubeCL's)", dir.display()),
            Self::UserConfig(file) => write!(f, "as configured in {}", file.display()),
            Self::CubeclDefault => write!(f, "CubeCL's defaults (no compiled kernel kept)"),
        }
    }
}

/// The first CubeCL configuration file found from `cwd` up, as CubeCL searches.
fn user_config(cwd: &Path) -> Option<PathBuf> {
    cwd.ancestors().find_map(|dir| {
        CONFIG_FILES.iter().find_map(|&(name, section_only)| {
            let path = dir.join(name);
            let text = std::fs::read_to_string(&path).ok()?;
            let counts = !section_only
                || text
                    .lines()
                    .any(|line| line.trim_start().starts_with("[cubecl"));
            counts.then_some(path)
        })
    })
}

/// Sets CubeCL's configuration to the caches of [`KernelCache::current`] when they are
/// `entrannas`'s folder. Call before any GPU work: CubeCL reads its configuration once.
/// `CUBECL_*` environment variables (for example `CUBECL_AUTOTUNE_LEVEL`) still apply.
#[cfg(any(
    feature = "cuda",
    feature = "vulkan",
    feature = "wgpu",
    feature = "metal"
))]
pub fn install() {
    use burn::cubecl::config::cache::CacheConfig;
    use burn::cubecl::config::{CubeClRuntimeConfig, RuntimeConfig};

    let KernelCache::Folder(dir) = KernelCache::current() else {
        return;
    };
    // A folder that cannot be made would fail inside CubeCL at the first kernel: keep
    // CubeCL's defaults instead, and say so.
    if let Err(e) = std::fs::create_dir_all(&dir) {
        eprintln!(
            "warning: kernel cache {} unusable ({e}); GPU kernels are not kept between runs",
            dir.display()
        );
        return;
    }
    let mut config = CubeClRuntimeConfig::default();
    config.compilation.cache = Some(CacheConfig::File(dir.join("compilation")));
    config.autotune.cache = CacheConfig::File(dir.join("autotune"));
    RuntimeConfig::set(config.override_from_env());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<OsString> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| OsString::from(v))
        }
    }

    #[test]
    fn the_cache_goes_to_the_named_folder_then_xdg_then_home() {
        let dir = tempfile::tempdir().unwrap();
        let cwd = dir.path();
        let all = env(&[(ENV_VAR, "/k"), ("XDG_CACHE_HOME", "/x"), ("HOME", "/h")]);
        assert_eq!(
            KernelCache::resolve(cwd, all),
            KernelCache::Folder("/k".into())
        );
        let xdg = env(&[("XDG_CACHE_HOME", "/x"), ("HOME", "/h"), (ENV_VAR, "")]);
        assert_eq!(
            KernelCache::resolve(cwd, xdg),
            KernelCache::Folder("/x/entrannas/kernels".into())
        );
        let home = env(&[("HOME", "/h")]);
        assert_eq!(
            KernelCache::resolve(cwd, home),
            KernelCache::Folder("/h/.cache/entrannas/kernels".into())
        );
        assert_eq!(
            KernelCache::resolve(cwd, env(&[])),
            KernelCache::CubeclDefault
        );
        let off = env(&[(ENV_VAR, "off"), ("HOME", "/h")]);
        assert_eq!(KernelCache::resolve(cwd, off), KernelCache::CubeclDefault);
    }

    #[test]
    fn a_cubecl_configuration_above_the_working_directory_wins() {
        let dir = tempfile::tempdir().unwrap();
        let inner = dir.path().join("a").join("b");
        std::fs::create_dir_all(&inner).unwrap();
        let home = env(&[("HOME", "/h")]);
        // burn.toml without a [cubecl] section is not a CubeCL configuration.
        std::fs::write(dir.path().join("a").join("burn.toml"), "[other]\nx = 1\n").unwrap();
        assert!(matches!(
            KernelCache::resolve(&inner, &home),
            KernelCache::Folder(_)
        ));
        std::fs::write(
            dir.path().join("a").join("burn.toml"),
            "[cubecl.autotune]\nlevel = \"minimal\"\n",
        )
        .unwrap();
        assert_eq!(
            KernelCache::resolve(&inner, &home),
            KernelCache::UserConfig(dir.path().join("a").join("burn.toml"))
        );
        std::fs::write(inner.join("cubecl.toml"), "").unwrap();
        assert_eq!(
            KernelCache::resolve(&inner, &home),
            KernelCache::UserConfig(inner.join("cubecl.toml"))
        );
    }
}
