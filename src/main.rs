//! The `nocron` binary; everything lives in the library.

#[tokio::main]
async fn main() {
    nocron::install_crypto_provider();
    let code = nocron::cli::run().await;
    std::process::exit(code);
}
