using Microsoft.Playwright;

namespace Usine.Web.Tests;

/// <summary>
/// Headless Chromium driven by Playwright: Debian's <c>chromium</c> at <c>USINE_CHROMIUM</c> (default
/// <c>/usr/bin/chromium</c>), installed by <c>scripts/services.sh start</c>. A missing browser fails every test
/// that needs it, in CI and elsewhere; Playwright never downloads a browser of its own.
/// </summary>
public sealed class BrowserFixture : IAsyncLifetime
{
    private IPlaywright? _playwright;
    private IBrowser? _browser;

    public static string ChromiumPath => Environment.GetEnvironmentVariable("USINE_CHROMIUM") is { Length: > 0 } path ? path : "/usr/bin/chromium";

    /// <summary>Where screenshots go: <c>USINE_SCREENSHOTS</c>, else <c>TestResults/screenshots</c> under the test output folder.</summary>
    public static string ScreenshotDirectory { get; } = Environment.GetEnvironmentVariable("USINE_SCREENSHOTS") is { Length: > 0 } dir
        ? dir
        : Path.Combine(AppContext.BaseDirectory, "TestResults", "screenshots");

    public IBrowser Browser => _browser ?? throw new InvalidOperationException("the browser is not started");

    /// <summary>A fresh browser context on <paramref name="baseUrl"/> at the size the UI tests use, with its first page.</summary>
    public async Task<(IBrowserContext Context, IPage Page)> OpenAsync(string baseUrl)
    {
        var context = await Browser.NewContextAsync(new BrowserNewContextOptions
        {
            BaseURL = baseUrl,
            ViewportSize = new ViewportSize { Width = 1400, Height = 900 },
        });
        return (context, await context.NewPageAsync());
    }

    public async Task InitializeAsync()
    {
        if (!File.Exists(ChromiumPath))
        {
            var how = string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase)
                ? "CI must run scripts/services.sh start before the tests"
                : "run `scripts/services.sh start` (it installs Debian's chromium) or set USINE_CHROMIUM to a Chromium executable";
            throw new InvalidOperationException($"no Chromium at {ChromiumPath}; {how}");
        }

        Environment.SetEnvironmentVariable("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1");
        Directory.CreateDirectory(ScreenshotDirectory);
        _playwright = await Playwright.CreateAsync();
        _browser = await _playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = ChromiumPath,
            Headless = true,

            // Containers run tests as root, where Chromium's sandbox cannot start, and give /dev/shm little room.
            Args = ["--no-sandbox", "--disable-dev-shm-usage"],
        });
    }

    public async Task DisposeAsync()
    {
        if (_browser is not null)
        {
            await _browser.DisposeAsync();
        }

        _playwright?.Dispose();
    }
}

[CollectionDefinition(Name)]
public sealed class BrowserCollection : ICollectionFixture<BrowserFixture>
{
    public const string Name = "chromium";
}
