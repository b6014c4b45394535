using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Unicode;

namespace Usine.Benchmarks.Workload;

/// <summary>
/// The reference workload: newline-delimited JSON messages of about 250 bytes from thousands of devices in many
/// plants, one file per model (screwing.ndjson, machine_state.ndjson, energy.ndjson, process_value.ndjson, in
/// proportions 40/20/20/20), read by the sources of <c>bench.yaml</c>. Every message names its plant, shop, line,
/// station and device. Exactly one message in each full block of 100 lines of a file is broken in a known way,
/// so a file of n lines holds n / 100 (rounded down) bad ones, listed in the manifest.
/// </summary>
/// <remarks>
/// Lines are formatted straight to UTF-8 in a large buffer from precomputed device prefixes, and the four files
/// are written in parallel, each with its own seeded generator: the output does not depend on scheduling.
/// </remarks>
public static class WorkloadGenerator
{
    /// <summary>The definitions file that reads the workload, next to this source file in the repository.</summary>
    public const string DefinitionsFile = "bench.yaml";

    private const int BufferSize = 1 << 20;
    private const int MaxLine = 1024;

    private static readonly string[] PlantNames =
    [
        "flins", "douai", "maubeuge", "sandouville", "batilly", "cleon", "valladolid", "palencia", "bursa",
        "novo-mesto", "pitesti", "busan", "tanger", "curitiba", "cordoba",
    ];

    private static readonly string[] Shops = ["body", "paint", "assembly"];
    private static readonly string[] States = ["RUNNING", "IDLE", "STOPPED", "FAULT", "SETUP"];
    private static readonly string[] Reasons = ["PRODUCTION", "STARVED", "PLANNED_STOP", "E_STOP", "TOOL_CHANGE"];
    private static readonly (string Tag, string Unit, double Nominal, double Spread)[] Tags =
    [
        ("oil_temp", "degC", 45, 3), ("pressure", "bar", 180, 8), ("motor_temp", "degC", 55, 4),
        ("speed", "m/min", 6, 0.4), ("oven_temp", "degC", 180, 2), ("humidity", "%RH", 35, 3),
    ];

    private static readonly double[] Torques = [12, 25, 45, 60, 110, 135];
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;
    private const string VinAlphabet = "0123456789ABCDEFGHJKLMNPRSTUVWXYZ";

    private enum Kind
    {
        Screwing,
        State,
        Energy,
        Process,
    }

    private static readonly WorkloadBadKind[] AllBad = Enum.GetValues<WorkloadBadKind>();

    // energy has no enum and process_value no range: those ways do not apply to them.
    private static readonly WorkloadBadKind[] EnergyBad = [WorkloadBadKind.InvalidJson, WorkloadBadKind.MissingField, WorkloadBadKind.OutOfRange, WorkloadBadKind.WrongType];
    private static readonly WorkloadBadKind[] ProcessBad = [WorkloadBadKind.InvalidJson, WorkloadBadKind.MissingField, WorkloadBadKind.WrongType, WorkloadBadKind.UnknownEnum];

    private sealed record Device(byte[] Prefix, string Id, string Program, double Nominal, int Spindles, int Tag);

    /// <summary>Writes the four files into <see cref="WorkloadOptions.Directory"/> and describes them.</summary>
    public static async Task<WorkloadManifest> GenerateAsync(WorkloadOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        var clock = Stopwatch.StartNew();
        System.IO.Directory.CreateDirectory(options.Directory);

        var devices = BuildDevices(options);
        var vins = BuildVins(options);
        var screwing = options.Messages * 2 / 5;
        var states = options.Messages / 5;
        var energy = options.Messages / 5;
        var process = options.Messages - screwing - states - energy;

        var tasks = new[]
        {
            Task.Run(() => WriteFile(options, Kind.Screwing, "screwing", "bench-screwing", screwing, devices[Kind.Screwing], vins, cancellationToken), cancellationToken),
            Task.Run(() => WriteFile(options, Kind.State, "machine_state", "bench-states", states, devices[Kind.State], vins, cancellationToken), cancellationToken),
            Task.Run(() => WriteFile(options, Kind.Energy, "energy", "bench-energy", energy, devices[Kind.Energy], vins, cancellationToken), cancellationToken),
            Task.Run(() => WriteFile(options, Kind.Process, "process_value", "bench-process", process, devices[Kind.Process], vins, cancellationToken), cancellationToken),
        };
        var files = await Task.WhenAll(tasks);
        return new WorkloadManifest(options.Directory, files, clock.Elapsed);
    }

    private static Dictionary<Kind, Device[]> BuildDevices(WorkloadOptions options)
    {
        var rng = new Random(options.Seed);
        var lists = Enum.GetValues<Kind>().ToDictionary(k => k, _ => new List<Device>());
        for (var d = 0; d < options.Devices; d++)
        {
            // Devices go round the plants, then round the stations of a plant: 2 lines per shop, 10 stations per line.
            var plantIndex = d % options.Plants;
            var plant = plantIndex < PlantNames.Length ? PlantNames[plantIndex] : "plant" + (plantIndex + 1).ToString("D2", CultureInfo.InvariantCulture);
            var n = d / options.Plants;
            var kind = (n % 5) switch
            {
                0 or 1 => Kind.Screwing,
                2 => Kind.State,
                3 => Kind.Energy,
                _ => Kind.Process,
            };
            var shop = kind == Kind.Screwing ? "assembly" : Shops[n / 5 % Shops.Length];
            var line = char.ToUpperInvariant(shop[0]) + (1 + (n / 15 % 2)).ToString(CultureInfo.InvariantCulture);
            var station = "ST" + (10 * (1 + (n / 30 % 10))).ToString("D3", CultureInfo.InvariantCulture);
            var code = kind switch
            {
                Kind.Screwing => "SC",
                Kind.State => "R",
                Kind.Energy => "EM",
                _ => "PE",
            };

            // Ids carry the plant: the models' natural keys do not, and the same station exists in every plant.
            var id = $"{plant}-{line}-{station}-{code}{n}";
            var prefix = $"{{\"plant\":\"{plant}\",\"shop\":\"{shop}\",\"line\":\"{line}\",\"station\":\"{station}\",\"device\":\"{id}\",";
            lists[kind].Add(new Device(Encoding.UTF8.GetBytes(prefix), id, "P" + rng.Next(10, 40).ToString(CultureInfo.InvariantCulture),
                Torques[rng.Next(Torques.Length)], rng.Next(1, 7), rng.Next(Tags.Length)));
        }

        return lists.ToDictionary(p => p.Key, p => p.Value.ToArray());
    }

    private static string[] BuildVins(WorkloadOptions options)
    {
        var rng = new Random(unchecked(options.Seed + 7919));
        var vins = new HashSet<string>(StringComparer.Ordinal);
        Span<char> chars = stackalloc char[17];
        "VF1".CopyTo(chars);
        while (vins.Count < options.Vins)
        {
            for (var i = 3; i < 17; i++)
            {
                chars[i] = VinAlphabet[rng.Next(VinAlphabet.Length)];
            }

            vins.Add(new string(chars));
        }

        return [.. vins];
    }

    private static WorkloadFile WriteFile(WorkloadOptions options, Kind kind, string model, string sourceId, long count,
        Device[] devices, string[] vins, CancellationToken cancellationToken)
    {
        var path = Path.Combine(options.Directory, model + ".ndjson");
        var rng = new Random(unchecked((options.Seed * 31) + (int)kind + 1));
        var applicable = kind switch
        {
            Kind.Energy => EnergyBad,
            Kind.Process => ProcessBad,
            _ => AllBad,
        };
        var bad = new List<WorkloadBadLine>((int)Math.Min(count / 100, int.MaxValue));
        var buffer = new byte[BufferSize];
        var pos = 0;
        long bytes = 0;
        var badAt = rng.Next(100);
        using var file = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.Read, bufferSize: 0, FileOptions.SequentialScan);
        for (long i = 0; i < count; i++)
        {
            var inBlock = (int)(i % 100);
            if (inBlock == 0 && i > 0)
            {
                badAt = rng.Next(100);
                cancellationToken.ThrowIfCancellationRequested();
            }

            // Only full blocks of 100 hold a bad line, so that a file holds exactly count / 100 of them.
            WorkloadBadKind? b = inBlock == badAt && i - inBlock + 100 <= count ? applicable[bad.Count % applicable.Length] : null;
            if (b is { } k)
            {
                bad.Add(new WorkloadBadLine(i + 1, k));
            }

            if (BufferSize - pos < MaxLine)
            {
                file.Write(buffer, 0, pos);
                bytes += pos;
                pos = 0;
            }

            var ts = options.Start.AddTicks(options.Spacing.Ticks * i);
            var line = buffer.AsSpan(pos);
            var n = kind switch
            {
                Kind.Screwing => Screwing(line, rng, devices[rng.Next(devices.Length)], vins[rng.Next(vins.Length)], ts, i, b),
                Kind.State => State(line, rng, devices[rng.Next(devices.Length)], ts, i, b),
                Kind.Energy => Energy(line, rng, devices[rng.Next(devices.Length)], ts, i, b),
                _ => Process(line, rng, devices[rng.Next(devices.Length)], ts, i, b),
            };
            if (b == WorkloadBadKind.InvalidJson)
            {
                // Cut in the middle: the object is never closed.
                n /= 2;
            }

            buffer[pos + n] = (byte)'\n';
            pos += n + 1;
        }

        file.Write(buffer, 0, pos);
        bytes += pos;
        return new WorkloadFile(model, sourceId, path, count, bytes, bad);
    }

    private static int Screwing(Span<byte> s, Random rng, Device d, string vin, DateTime ts, long seq, WorkloadBadKind? bad)
    {
        var n = Prefix(s, d);
        if (bad != WorkloadBadKind.MissingField)
        {
            n += Write(s[n..], Inv, $"\"vin\":\"{vin}\",");
        }

        var torque = d.Nominal * (1 + (0.03 * (rng.NextDouble() - 0.5)));
        var nok = rng.Next(50) == 0;
        if (nok)
        {
            torque *= 0.75;
        }

        n += Write(s[n..], Inv, $"\"spindle\":{rng.Next(1, d.Spindles + 1)},\"ts\":\"{ts:O}\",");
        n += bad switch
        {
            WorkloadBadKind.OutOfRange => Write(s[n..], Inv, $"\"torque\":250.00,"),
            WorkloadBadKind.WrongType => Write(s[n..], Inv, $"\"torque\":\"high\","),
            _ => Write(s[n..], Inv, $"\"torque\":{torque:F2},"),
        };
        var status = bad == WorkloadBadKind.UnknownEnum ? "MAYBE" : nok ? "NOK" : "OK";
        n += Write(s[n..], Inv, $"\"angle\":{360 + rng.Next(0, 1080)}.{rng.Next(10)},\"status\":\"{status}\",\"program\":\"{d.Program}\",\"controller\":\"PF6000-{d.Spindles}\",\"seq\":{seq}}}");
        return n;
    }

    private static int State(Span<byte> s, Random rng, Device d, DateTime ts, long seq, WorkloadBadKind? bad)
    {
        var n = Prefix(s, d);
        if (bad != WorkloadBadKind.MissingField)
        {
            n += Write(s[n..], Inv, $"\"machine\":\"{d.Id}\",");
        }

        var i = rng.Next(States.Length);
        var state = bad == WorkloadBadKind.UnknownEnum ? "MAYBE" : States[i];
        n += Write(s[n..], Inv, $"\"ts\":\"{ts:O}\",\"state\":\"{state}\",\"reason\":\"{Reasons[i]}\",");
        n += bad switch
        {
            WorkloadBadKind.OutOfRange => Write(s[n..], Inv, $"\"cycles\":-1,"),
            WorkloadBadKind.WrongType => Write(s[n..], Inv, $"\"cycles\":\"many\","),
            _ => Write(s[n..], Inv, $"\"cycles\":{seq * 3 / 2},"),
        };
        n += Write(s[n..], Inv, $"\"shift\":\"{(ts.Hour < 14 && ts.Hour >= 6 ? "A" : ts.Hour >= 14 && ts.Hour < 22 ? "B" : "C")}\",\"seq\":{seq}}}");
        return n;
    }

    private static int Energy(Span<byte> s, Random rng, Device d, DateTime ts, long seq, WorkloadBadKind? bad)
    {
        var n = Prefix(s, d);
        if (bad != WorkloadBadKind.MissingField)
        {
            n += Write(s[n..], Inv, $"\"meter\":\"{d.Id}\",");
        }

        var kw = 50 + (d.Nominal * (0.8 + (0.4 * rng.NextDouble())));
        var volts = 398 + (4 * rng.NextDouble());
        var amps = kw * 1000 / volts;
        var wh = kw * 1000 / 60;
        n += Write(s[n..], Inv, $"\"ts\":\"{ts:O}\",");
        n += bad switch
        {
            WorkloadBadKind.OutOfRange => Write(s[n..], Inv, $"\"energy_wh\":{-wh:F1},"),
            WorkloadBadKind.WrongType => Write(s[n..], Inv, $"\"energy_wh\":\"n/a\","),
            _ => Write(s[n..], Inv, $"\"energy_wh\":{wh:F1},"),
        };
        n += Write(s[n..], Inv, $"\"voltage\":{volts:F1},\"current\":{amps:F2},\"interval_s\":60,\"phase\":\"L123\",\"seq\":{seq}}}");
        return n;
    }

    private static int Process(Span<byte> s, Random rng, Device d, DateTime ts, long seq, WorkloadBadKind? bad)
    {
        var n = Prefix(s, d);
        var (tag, unit, nominal, spread) = Tags[d.Tag];
        n += Write(s[n..], Inv, $"\"equipment\":\"{d.Id}\",");
        if (bad != WorkloadBadKind.MissingField)
        {
            n += Write(s[n..], Inv, $"\"tag\":\"{tag}\",");
        }

        n += Write(s[n..], Inv, $"\"ts\":\"{ts:O}\",");
        n += bad == WorkloadBadKind.WrongType
            ? Write(s[n..], Inv, $"\"value\":\"high\",")
            : Write(s[n..], Inv, $"\"value\":{nominal + (spread * (rng.NextDouble() - 0.5)):F2},");
        var q = rng.Next(100);
        var quality = bad == WorkloadBadKind.UnknownEnum ? "MAYBE" : q < 97 ? "GOOD" : q < 99 ? "UNCERTAIN" : "BAD";
        n += Write(s[n..], Inv, $"\"unit\":\"{unit}\",\"quality\":\"{quality}\",\"sampling_ms\":1000,\"seq\":{seq}}}");
        return n;
    }

    private static int Prefix(Span<byte> s, Device d)
    {
        d.Prefix.CopyTo(s);
        return d.Prefix.Length;
    }

    private static int Write(Span<byte> s, IFormatProvider provider,
        [System.Runtime.CompilerServices.InterpolatedStringHandlerArgument(nameof(s), nameof(provider))] ref Utf8.TryWriteInterpolatedStringHandler handler)
    {
        if (!Utf8.TryWrite(s, provider, ref handler, out var written))
        {
            throw new InvalidOperationException($"a workload line is longer than {MaxLine} bytes");
        }

        return written;
    }
}
