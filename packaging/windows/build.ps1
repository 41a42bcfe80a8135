# Build the Windows installer: dist\Pigeonhole-<version>-Setup.exe (see README.md beside this file).
#
#   powershell -ExecutionPolicy Bypass -File packaging\windows\build.ps1 [-Beside] [-SkipInstall]
#
#   -Beside       put the program files in dist\Pigeonhole-<version>-files\ next to Setup.exe instead of inside it
#                 (chosen automatically when the bundle is over 1.9 GB: an NSIS installer stops at 2 GB)
#   -SkipInstall  use the Python packages already installed
param([switch]$Beside, [switch]$SkipInstall)
$ErrorActionPreference = "Stop"
Set-Location (Join-Path $PSScriptRoot "..\..")

function Run([string]$what, [scriptblock]$command) {
    & $command
    if ($LASTEXITCODE -ne 0) { throw "$what failed (exit $LASTEXITCODE)" }
}

$version = (python -c "import tomllib; print(tomllib.load(open('pyproject.toml', 'rb'))['project']['version'])").Trim()
if (-not $SkipInstall) {
    Run "pip install" { python -m pip install -q --disable-pip-version-check -e . -r packaging\requirements-build.txt }
}
Run "PyInstaller" { python -m PyInstaller --noconfirm --clean --log-level WARN --distpath build\pyinstaller\dist --workpath build\pyinstaller\work packaging\pigeonhole.spec }
$bundle = (Resolve-Path build\pyinstaller\dist\pigeonhole).Path

# The frozen app must load torch, torchvision's ops, OpenCV, Qt and the built-in weights before we ship it.
Run "bundle check" { & "$bundle\pigeonhole-bundle-check.exe" --require-frozen }
Run "pigeonhole-cli --version" { & "$bundle\pigeonhole-cli.exe" --version }

Run "icons" { python packaging\icons.py build\icons }
$size = (Get-ChildItem $bundle -Recurse -File | Measure-Object Length -Sum).Sum
Write-Host ("Bundle: {0:N2} GB" -f ($size / 1GB))
if ($size -gt 1.9GB) { $Beside = $true; Write-Host "Over 1.9 GB: the files go beside Setup.exe" }

$makensis = (Get-Command makensis.exe -ErrorAction SilentlyContinue).Source
if (-not $makensis) { $makensis = Join-Path ${env:ProgramFiles(x86)} "NSIS\makensis.exe" }
if (-not (Test-Path $makensis)) { throw "NSIS not found: winget install NSIS.NSIS" }

New-Item -ItemType Directory -Force dist | Out-Null
$dist = (Resolve-Path dist).Path
$setup = Join-Path $dist "Pigeonhole-$version-Setup.exe"
$defines = @("/DVERSION=$version", "/DPAYLOAD_DIR=$bundle", "/DICON=$((Resolve-Path build\icons\pigeonhole.ico).Path)", "/DOUTFILE=$setup")
if ($Beside) {
    $files = Join-Path $dist "Pigeonhole-$version-files"
    if (Test-Path $files) { Remove-Item -Recurse -Force $files }
    Copy-Item -Recurse $bundle $files
    $defines += "/DPAYLOAD_BESIDE"
}
Run "makensis" { & $makensis /V2 /WX @defines packaging\windows\pigeonhole.nsi }
Write-Host "Built $setup"
if ($Beside) { Write-Host "Ship it together with $files (for example both in one .zip made with 7-Zip)." }
