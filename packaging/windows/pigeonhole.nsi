; Pigeonhole installer for Windows (NSIS 3). Per-user: no administrator rights, installs to
; %LOCALAPPDATA%\Programs\Pigeonhole, a Start-menu shortcut, an uninstaller listed in Settings > Apps.
;
;   makensis /DVERSION=0.1.0 /DPAYLOAD_DIR=C:\src\pigeonhole\build\pyinstaller\dist\pigeonhole ^
;            /DICON=C:\src\pigeonhole\build\icons\pigeonhole.ico /DOUTFILE=C:\src\pigeonhole\dist\Pigeonhole-0.1.0-Setup.exe ^
;            packaging\windows\pigeonhole.nsi
;
; Defines (/Dname=value; on Linux -Dname=value):
;   VERSION        required: x.y.z, from pyproject.toml
;   PAYLOAD_DIR    required: the PyInstaller folder (Pigeonhole.exe, pigeonhole-cli.exe, _internal\)
;   ICON           required: the .ico (python packaging\icons.py build\icons)
;   OUTFILE        the installer to write (default Pigeonhole-VERSION-Setup.exe beside this script)
;   PAYLOAD_BESIDE if defined, the files are not put inside the installer: it copies them from the folder
;                  Pigeonhole-VERSION-files\ next to Setup.exe. For bundles over ~1.9 GB (a CUDA build of torch):
;                  an NSIS installer cannot exceed 2 GB. See README.md.

Unicode true
ManifestDPIAware true
RequestExecutionLevel user
SetCompressor /SOLID lzma
SetCompressorDictSize 64

!ifndef VERSION
  !error "pass /DVERSION=x.y.z"
!endif
!ifndef PAYLOAD_DIR
  !error "pass /DPAYLOAD_DIR=path\to\build\pyinstaller\dist\pigeonhole"
!endif
!ifndef ICON
  !error "pass /DICON=path\to\pigeonhole.ico"
!endif
!ifndef OUTFILE
  !define OUTFILE "Pigeonhole-${VERSION}-Setup.exe"
!endif

!define APP_NAME "Pigeonhole"
!define APP_EXE "Pigeonhole.exe"
!define PUBLISHER "The Pigeonhole developers"
!define UNINSTALL_KEY "Software\Microsoft\Windows\CurrentVersion\Uninstall\${APP_NAME}"
!define PAYLOAD_FOLDER "${APP_NAME}-${VERSION}-files"

!include "MUI2.nsh"
!include "LogicLib.nsh"
!include "FileFunc.nsh"
!include "x64.nsh"

Name "${APP_NAME} ${VERSION}"
OutFile "${OUTFILE}"
InstallDir "$LOCALAPPDATA\Programs\${APP_NAME}"
InstallDirRegKey HKCU "${UNINSTALL_KEY}" "InstallLocation"
BrandingText "${APP_NAME} ${VERSION}"

; Version resource of Setup.exe (VIProductVersion wants four numbers).
VIProductVersion "${VERSION}.0"
VIAddVersionKey "ProductName" "${APP_NAME}"
VIAddVersionKey "ProductVersion" "${VERSION}"
VIAddVersionKey "FileVersion" "${VERSION}"
VIAddVersionKey "FileDescription" "${APP_NAME} installer"
VIAddVersionKey "CompanyName" "${PUBLISHER}"
VIAddVersionKey "LegalCopyright" "Apache-2.0"

!define MUI_ICON "${ICON}"
!define MUI_UNICON "${ICON}"
!define MUI_ABORTWARNING
!define MUI_FINISHPAGE_RUN "$INSTDIR\${APP_EXE}"
!define MUI_FINISHPAGE_RUN_TEXT "Start ${APP_NAME}"

!insertmacro MUI_PAGE_WELCOME
!insertmacro MUI_PAGE_DIRECTORY
!insertmacro MUI_PAGE_INSTFILES
!insertmacro MUI_PAGE_FINISH
!insertmacro MUI_UNPAGE_CONFIRM
!insertmacro MUI_UNPAGE_INSTFILES
!insertmacro MUI_LANGUAGE "English"

Function .onInit
  ${IfNot} ${RunningX64}
    MessageBox MB_ICONSTOP "${APP_NAME} needs 64-bit Windows 10 or later."
    Abort
  ${EndIf}
  !ifdef PAYLOAD_BESIDE
    ${IfNot} ${FileExists} "$EXEDIR\${PAYLOAD_FOLDER}\${APP_EXE}"
      MessageBox MB_ICONSTOP "The folder ${PAYLOAD_FOLDER} must be next to this installer.$\r$\nExtract the whole download, then run the installer again."
      Abort
    ${EndIf}
  !endif
FunctionEnd

Section "Pigeonhole" SecMain
  SectionIn RO
  SetShellVarContext current
  SetOutPath "$INSTDIR"
  ; An upgrade replaces the bundle whole: files of the old version must not linger next to the new ones.
  RMDir /r "$INSTDIR\_internal"
  !ifdef PAYLOAD_BESIDE
    DetailPrint "Copying files from $EXEDIR\${PAYLOAD_FOLDER} ..."
    CopyFiles /SILENT "$EXEDIR\${PAYLOAD_FOLDER}\*.*" "$INSTDIR"
    ${IfNot} ${FileExists} "$INSTDIR\${APP_EXE}"
      Abort "Copying the program files failed (is the disk full?)."
    ${EndIf}
  !else
    File /r "${PAYLOAD_DIR}\*.*"
  !endif

  WriteUninstaller "$INSTDIR\Uninstall.exe"
  CreateShortcut "$SMPROGRAMS\${APP_NAME}.lnk" "$INSTDIR\${APP_EXE}" "" "$INSTDIR\${APP_EXE}" 0 \
    SW_SHOWNORMAL "" "Sort photos with an image classifier you train yourself"

  ; Settings > Apps (per user).
  WriteRegStr HKCU "${UNINSTALL_KEY}" "DisplayName" "${APP_NAME}"
  WriteRegStr HKCU "${UNINSTALL_KEY}" "DisplayVersion" "${VERSION}"
  WriteRegStr HKCU "${UNINSTALL_KEY}" "Publisher" "${PUBLISHER}"
  WriteRegStr HKCU "${UNINSTALL_KEY}" "DisplayIcon" "$INSTDIR\${APP_EXE},0"
  WriteRegStr HKCU "${UNINSTALL_KEY}" "InstallLocation" "$INSTDIR"
  WriteRegStr HKCU "${UNINSTALL_KEY}" "UninstallString" '"$INSTDIR\Uninstall.exe"'
  WriteRegStr HKCU "${UNINSTALL_KEY}" "QuietUninstallString" '"$INSTDIR\Uninstall.exe" /S'
  WriteRegDWORD HKCU "${UNINSTALL_KEY}" "NoModify" 1
  WriteRegDWORD HKCU "${UNINSTALL_KEY}" "NoRepair" 1
  ${GetSize} "$INSTDIR" "/S=0K" $0 $1 $2
  WriteRegDWORD HKCU "${UNINSTALL_KEY}" "EstimatedSize" "$0"
SectionEnd

Section "Uninstall"
  SetShellVarContext current
  Delete "$SMPROGRAMS\${APP_NAME}.lnk"
  ; Only what the installer put there, in case the folder was chosen by hand and holds other things.
  ; Projects and settings live elsewhere (%LOCALAPPDATA%\Pigeonhole, the registry) and are kept.
  RMDir /r "$INSTDIR\_internal"
  Delete "$INSTDIR\${APP_EXE}"
  Delete "$INSTDIR\pigeonhole-cli.exe"
  Delete "$INSTDIR\pigeonhole-bundle-check.exe"
  Delete "$INSTDIR\Uninstall.exe"
  RMDir "$INSTDIR"
  DeleteRegKey HKCU "${UNINSTALL_KEY}"
SectionEnd
