//! Depends on `entrannas` alone: a search of the embedded Fashion-MNIST subset, the
//! training of its genotype's target-net, then the trained net reloaded and evaluated.
//! Smoke-sized (seconds; the accuracies mean nothing): `cargo run --release -p
//! entrannas-downstream -- <output folder>`.
use entrannas::prelude::*;

type Error = Box<dyn std::error::Error + Send + Sync>;

fn main() -> Result<(), Error> {
    // On a worker of the CPU backend's thread pool, as the CLI runs (README).
    on_worker_pool(search_train_reload)
}

fn search_train_reload() -> Result<(), Error> {
    let out = std::path::PathBuf::from(std::env::args().nth(1).unwrap_or("runs/downstream".into()));
    let data = open(DatasetKind::Embedded, None, &OpenOptions::default())?;
    let (config, registry) = (SearchConfig::smoke(), OpRegistry::default());
    let device = Default::default();
    let run = RunDir::create(out.join("search"), true)?;
    let found = run_search::<Cpu>(&config, &registry, &data, &run, &mut (), &[device])?;
    let genotype = found.history[found.selection.epoch].genotype.clone();
    let train_dir = RunDir::create(out.join("train"), true)?;
    let job = TrainJob::new(TrainConfig::smoke(), genotype.clone());
    let trained = job
        .run::<Cpu>(&data, &train_dir, &mut (), &device)?
        .last()
        .test_accuracy;
    let net = load_for_inference::<CpuInference>(train_dir.path(), &device)?.net;
    let (_, reloaded) = evaluate(&net, &data.test_dataset(), 64)?;
    println!("{}", genotype.to_darts_text());
    println!("test accuracy: {trained:.4} after training, {reloaded:.4} reloaded");
    Ok(())
}
